/** Tensor summaries as short text: numbers, shapes, sparklines, the hover line. Pure. */
import { statValue, type Statistic } from "./codec";
import { nonFiniteCount, type FrameTensor, type Hit } from "./protocol";

/** Numbers as the table shows them: 4 significant digits, exponent when far from 1. */
export function formatNumber(stat: Statistic | null | undefined): string {
  const v = statValue(stat);
  if (v === null) return "—";
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** The hit tensor's name in pictures ("fc2 output"): the title of its histogram, drawn by the server or the page. */
export function hitTensorName(hit: Pick<Hit, "module" | "site">): string {
  return `${hit.module || "root"} ${hit.site}`;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

const BARS = "▁▂▃▄▅▆▇█";

/** Counts as bars scaled to the largest; a zero count is a space so empty bins stay visible. */
export function sparkline(counts: readonly number[]): string {
  const max = Math.max(0, ...counts);
  if (max === 0) return "";
  return counts.map((c) => (c <= 0 ? " " : BARS[Math.min(7, Math.floor((c / max) * 7.999))])).join("");
}

/** A series over steps (e.g. a layer's norm history) as bars between its min and max. */
export function trendline(values: ReadonlyArray<number | null>): string {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (finite.length === 0) return "";
  const lo = Math.min(...finite);
  const span = Math.max(...finite) - lo;
  return values
    .map((v) => (v === null ? " " : !Number.isFinite(v) ? "!" : BARS[span === 0 ? 3 : Math.min(7, Math.floor(((v - lo) / span) * 7.999))]))
    .join("");
}

/** The one-line summary shown in the hover (the same facts as the panel's row). */
export function hoverLine(t: FrameTensor): string {
  const s = t.summary;
  const nonfinite = nonFiniteCount(s);
  return `${t.name}: tensor${formatShape(s.shape)} ${s.dtype} x∈[${formatNumber(s.min)}, ${formatNumber(s.max)}] μ=${formatNumber(s.mean)} σ=${formatNumber(s.std)}${nonfinite ? ` NaN/Inf=${nonfinite}` : ""} ${sparkline(s.hist?.counts ?? [])}`;
}
