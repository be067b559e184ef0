/**
 * Which pictures the panel asks the language server for, built from snapshot data and the
 * agent's `detail` payloads. Pure, so the choice of payloads is unit-tested.
 */
import { statValue } from "../wire/codec";
import { chartMetric, historyValues, layerSiteRows } from "../wire/layerStats";
import type { Detail, LayerRow, RenderKind, TensorSummary } from "../wire/protocol";
import { pictureSize, type PictureSize as RenderSize } from "../wire/render";
import type { ImageOptions } from "../wire/webviewProtocol";

export interface PictureRequest {
  kind: RenderKind;
  title: string;
  payload: unknown;
}

export type PictureSize = Required<RenderSize>;
export { pictureSize };

/** Whether pictures drawn at `drawn` should be drawn again for `wanted` (more than 15% off in width, or another pixel ratio). */
export function needsRedraw(drawn: PictureSize, wanted: PictureSize): boolean {
  return Math.abs(wanted.width - drawn.width) > 0.15 * drawn.width || wanted.pixelRatio !== drawn.pixelRatio;
}

export function histogramRequest(name: string, summary: TensorSummary): PictureRequest {
  return { kind: "histogram", title: `histogram of ${name}`, payload: { ...summary, name } };
}

/** The detail card: the finer histogram, and a heatmap or channel tiles when the agent sent them. */
export function detailRequests(
  name: string,
  detail: Detail | undefined,
  fallback: TensorSummary | undefined,
  normalize: ImageOptions["normalize"] = "image",
): PictureRequest[] {
  const out: PictureRequest[] = [];
  if (detail) out.push({ kind: "histogram", title: `histogram of ${name}`, payload: detail.histogram });
  else if (fallback) out.push(histogramRequest(name, fallback));
  if (detail?.heatmap) out.push({ kind: "heatmap", title: `heatmap of ${name}`, payload: detail.heatmap });
  if (detail?.channels && typeof detail.channels === "object") {
    const channels = detail.channels as { batch_index?: number };
    const which = channels.batch_index ? ` (image ${channels.batch_index})` : "";
    out.push({ kind: "channels", title: `channels of ${name}${which}`, payload: { ...detail.channels, normalize } });
  }
  return out;
}

/** Images of a batch drawn in its grid, at most. */
export const BATCH_GRID_MAX = 16;

/**
 * The grid of a batch from the `detail` answers of its first images (their `channels`
 * payloads), or null when none of them is an image.
 */
export function batchRequest(
  name: string,
  shape: readonly number[],
  details: readonly Detail[],
  normalize: ImageOptions["normalize"],
): PictureRequest | null {
  const images = details
    .map((d) => d.channels as { batch_index?: number; channels?: unknown } | undefined)
    .filter((c): c is { batch_index?: number; channels: unknown } => Array.isArray(c?.channels))
    .map((c) => ({ index: c.batch_index ?? 0, channels: c.channels }));
  if (images.length === 0) return null;
  const more = shape[0] > images.length ? ` (the first ${images.length} of ${shape[0]})` : "";
  return { kind: "batch", title: `batch of ${name}${more}`, payload: { name, shape, normalize, images } };
}

function finiteOrNull(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null;
}

/**
 * The Layers tab: a bar chart of each layer's latest value of the most informative recorded
 * statistic (gradient site preferred, as a gradient-norm chart), and that statistic over
 * recent steps.
 */
export function layerRequests(layers: readonly LayerRow[]): PictureRequest[] {
  const rows = layerSiteRows(layers);
  const site = rows.some((r) => r.site === "grad_output")
    ? "grad_output"
    : rows.some((r) => r.site === "output")
      ? "output"
      : rows[0]?.site;
  const siteRows = rows.filter((r) => r.site === site);
  const metric = chartMetric(siteRows);
  if (!site || !metric) return [];
  const out: PictureRequest[] = [
    {
      kind: "layers",
      title: `${metric} of ${site} per layer`,
      payload: {
        metric,
        site,
        layers: siteRows.map((r) => ({
          module: r.module,
          value: finiteOrNull(statValue(r.latest.stats[metric])),
          flag: r.bad ? "nonfinite" : null,
        })),
      },
    },
  ];
  const series = siteRows
    .filter((r) => r.history.length > 1)
    .slice(0, 8)
    .map((r) => ({ module: r.module, site, steps: r.history.map((p) => p.step), values: historyValues(r, metric).map(finiteOrNull) }));
  if (series.length > 0) out.push({ kind: "timeseries", title: `${metric} of ${site} over recent steps`, payload: { metric, series } });
  return out;
}
