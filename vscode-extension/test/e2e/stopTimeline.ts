/**
 * Reading the panel's stop timeline (`document.body.dataset.timeline`, see `StopMarks`) in
 * the end-to-end tests: where the time from the debugger's stop to the banner and the first
 * picture went. Printed, never asserted (a benchmark).
 */
import type { Frame } from "playwright-core";

export type Timeline = Record<string, number>;

export async function readTimeline(frame: Frame): Promise<Timeline> {
  return frame.evaluate(() => JSON.parse(document.body.dataset.timeline ?? "{}") as Record<string, number>);
}

/** Each mark in the order it happened, in ms after the stop: "stackTrace 21, asked 22, ...". */
export function describeTimeline(t: Timeline): string {
  const t0 = t.stopped;
  if (t0 === undefined) return "(no timeline)";
  return Object.entries(t)
    .filter(([k]) => k !== "stopped")
    .sort((a, b) => a[1] - b[1])
    .map(([k, v]) => `${k} ${v - t0}`)
    .join(", ");
}

/** The median over stops of each mark's time after its stop (marks some stops lack are medians of those that have them). */
export function medianTimeline(ts: readonly Timeline[]): string {
  const names = new Set(ts.flatMap((t) => Object.keys(t)));
  names.delete("stopped");
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = [...names].map((k) => {
    const offsets = ts.filter((t) => t[k] !== undefined && t.stopped !== undefined).map((t) => t[k] - t.stopped);
    return [k, median(offsets)] as const;
  });
  return rows
    .sort((a, b) => a[1] - b[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}
