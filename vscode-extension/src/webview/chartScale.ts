/**
 * The arithmetic of the Training view's charts: axis ranges, "nice" ticks, integer step ticks,
 * the nearest recorded step to a click. Pure (no DOM).
 */

export interface Scale {
  lo: number;
  hi: number;
  ticks: number[];
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 2.5 ? 2.5 : unit <= 5 ? 5 : 10) * power;
}

/** A value axis covering the finite values, widened to nice tick positions (about `count` ticks). */
export function valueScale(values: readonly number[], count = 4): Scale {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { lo: 0, hi: 1, ticks: [0, 0.5, 1] };
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi === lo) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, count);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return { lo, hi, ticks };
}

/** A step axis: integer ticks only (about `count`), the range exactly the steps recorded. */
export function stepScale(steps: readonly number[], count = 6): Scale {
  if (steps.length === 0) return { lo: 0, hi: 1, ticks: [0, 1] };
  const lo = Math.min(...steps);
  let hi = Math.max(...steps);
  if (hi === lo) hi = lo + 1;
  const step = Math.max(1, Math.round(niceStep(hi - lo, count)));
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) ticks.push(t);
  return { lo, hi, ticks };
}

/**
 * A count axis from 0 to a little above `max` (as matplotlib's margin leaves room over the
 * tallest bar): integer ticks only, about `count` of them.
 */
export function countScale(max: number, count = 4): Scale {
  if (!(max > 0) || !Number.isFinite(max)) return { lo: 0, hi: 1, ticks: [0, 1] };
  const step = Math.max(1, Math.floor(niceStep(max, count)));
  const hi = max * 1.05;
  const ticks: number[] = [];
  for (let t = 0; t <= hi; t += step) ticks.push(t);
  return { lo: 0, hi, ticks };
}

/** Linear map of `scale` onto pixels [`from`, `to`]. */
export function project(scale: Scale, from: number, to: number): (v: number) => number {
  const span = scale.hi - scale.lo || 1;
  return (v) => from + ((v - scale.lo) / span) * (to - from);
}

/** The recorded step closest to `x` (a step value), or null when there are none. */
export function nearestStep(steps: readonly number[], x: number): number | null {
  let best: number | null = null;
  for (const s of steps) if (best === null || Math.abs(s - x) < Math.abs(best - x)) best = s;
  return best;
}

/** A tick label: short, no float noise (0.30000000000000004 → 0.3). */
export function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}
