/**
 * Reading the per-layer table of a snapshot. Each (module, site) keeps only the statistics
 * its breakpoint conditions computed (e.g. just `nonfinite`), so every reader here copes with
 * any subset. Pure; shared by the panel page and the picture requests.
 */
import { statValue } from "./codec";
import type { HistoryPoint, LayerRow } from "./protocol";

/** Statistics worth charting, most informative first. */
export const CHART_METRICS = ["norm", "absmax", "std", "absmean", "nonfinite", "nan"] as const;

export interface LayerSiteRow {
  module: string;
  site: string;
  latest: HistoryPoint;
  history: HistoryPoint[];
  bad: boolean;
}

function isBadPoint(p: HistoryPoint): boolean {
  return Object.entries(p.stats).some(([k, v]) => {
    const n = statValue(v);
    if (n === null) return false;
    if (!Number.isFinite(n)) return true;
    return (k === "nonfinite" || k === "nan" || k === "posinf" || k === "neginf") && n > 0;
  });
}

/** One row per watched (module, site), in the snapshot's (named_modules) order. */
export function layerSiteRows(layers: readonly LayerRow[]): LayerSiteRow[] {
  return layers.flatMap((l) =>
    Object.entries(l.latest).map(([site, latest]) => ({
      module: l.module,
      site,
      latest,
      history: l.history[site] ?? [],
      bad: isBadPoint(latest),
    })),
  );
}

/** The metric to chart for a site: the first of CHART_METRICS that some layer recorded. */
export function chartMetric(rows: readonly LayerSiteRow[]): string | undefined {
  return CHART_METRICS.find((m) => rows.some((r) => m in r.latest.stats));
}

/** A metric's values over a row's history, as numbers (null where not recorded). */
export function historyValues(row: LayerSiteRow, metric: string): Array<number | null> {
  return row.history.map((p) => statValue(p.stats[metric]));
}
