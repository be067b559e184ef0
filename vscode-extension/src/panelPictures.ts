/**
 * Which pictures the panel asks the language server for, built from snapshot data and the
 * agent's `detail` payloads. Pure, so the choice of payloads is unit-tested.
 */
import { isNonFinite, type Detail, type LayerRow, type RenderKind, type TensorSummary } from "./protocol";

export interface PictureRequest {
  kind: RenderKind;
  title: string;
  payload: unknown;
}

export function histogramRequest(name: string, summary: TensorSummary): PictureRequest {
  return { kind: "histogram", title: `histogram of ${name}`, payload: { ...summary, name } };
}

/** The detail card: the finer histogram, and a heatmap or channel tiles when the agent sent them. */
export function detailRequests(name: string, detail: Detail | undefined, fallback: TensorSummary): PictureRequest[] {
  const out: PictureRequest[] = [];
  const histogram = detail?.histogram ?? detail?.summary;
  out.push(histogram ? { kind: "histogram", title: `histogram of ${name}`, payload: { name, ...(histogram as object) } } : histogramRequest(name, fallback));
  if (detail?.heatmap) out.push({ kind: "heatmap", title: `heatmap of ${name}`, payload: detail.heatmap });
  if (detail?.channels) out.push({ kind: "channels", title: `channels of ${name}`, payload: detail.channels });
  return out;
}

type Flag = null | "nonfinite";

function flagOf(summary: TensorSummary | undefined): Flag {
  return summary && isNonFinite(summary) ? "nonfinite" : null;
}

/**
 * The Layers tab: a bar chart of each layer's gradient norm (or output norm before any
 * backward pass) and the output norm of the layers over recent steps.
 */
export function layerRequests(layers: readonly LayerRow[]): PictureRequest[] {
  const site = layers.some((l) => l.sites.grad_output) ? "grad_output" : "output";
  const out: PictureRequest[] = [
    {
      kind: "layers",
      title: `${site === "grad_output" ? "gradient" : "output"} norm per layer`,
      payload: { metric: "norm", site, layers: layers.filter((l) => l.sites[site]).map((l) => ({ module: l.module, value: l.sites[site].summary.norm, flag: flagOf(l.sites[site].summary) })) },
    },
  ];
  const series = layers
    .filter((l) => (l.history?.output?.length ?? 0) > 1)
    .slice(0, 8)
    .map((l) => ({ module: l.module, site: "output", steps: l.history!.output.map((p) => p.step), values: l.history!.output.map((p) => p.summary.norm) }));
  if (series.length > 0) out.push({ kind: "timeseries", title: "output norm over recent steps", payload: { metric: "norm", series } });
  return out;
}
