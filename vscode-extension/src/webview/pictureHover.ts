/**
 * Reading a histogram picture under the pointer: its hover map (from the renderer) says where
 * the bins' axes lie in the picture, so a pointer position gives a value, a bin, its range and
 * its count, shown beside the pointer with the bin outlined.
 */
import type { BinsHover } from "../wire/render";
import { formatNumber } from "../wire/summaryText";
import { el } from "./element";

export interface BinUnderPointer {
  index: number;
  lo: number;
  hi: number;
  count: number;
  last: boolean;
}

/** The bin under a point at fractions (`fx`, `fy`) of the picture, or null outside the bins. */
export function binAt(hover: BinsHover, fx: number, fy: number): BinUnderPointer | null {
  const [left, top, right, bottom] = hover.plot;
  const [lo, hi] = hover.xlim;
  if (fx < left || fx > right || fy < top || fy > bottom || right <= left || hi <= lo) return null;
  const value = lo + ((fx - left) / (right - left)) * (hi - lo);
  const edges = hover.edges;
  const n = hover.counts.length;
  if (n === 0 || value < edges[0] || value > edges[n]) return null;
  let a = 0;
  let b = n; // the bin is the last i with edges[i] <= value
  while (b - a > 1) {
    const mid = (a + b) >> 1;
    if (edges[mid] <= value) a = mid;
    else b = mid;
  }
  return { index: a, lo: edges[a], hi: edges[a + 1], count: hover.counts[a], last: a === n - 1 };
}

export function binText(bin: BinUnderPointer): string {
  const n = bin.count;
  return `[${formatNumber(bin.lo)}, ${formatNumber(bin.hi)}${bin.last ? "]" : ")"}: ${n} value${n === 1 ? "" : "s"}`;
}

/** The picture with a bin readout that follows the pointer. */
export function hoverablePicture(img: HTMLImageElement, hover: BinsHover): HTMLElement {
  const outline = el("div", { class: "bin-outline", hidden: "" });
  const tip = el("div", { class: "bin-tip", role: "status", hidden: "" });
  const box = el("div", { class: "hoverable" }, img, outline, tip);
  const [left, top, right, bottom] = hover.plot;
  const [lo, hi] = hover.xlim;
  const xFrac = (v: number) => left + ((v - lo) / (hi - lo)) * (right - left);
  img.addEventListener("mousemove", (ev) => {
    const r = img.getBoundingClientRect();
    const fx = (ev.clientX - r.left) / (r.width || 1);
    const fy = (ev.clientY - r.top) / (r.height || 1);
    const bin = binAt(hover, fx, fy);
    if (!bin) {
      tip.hidden = true;
      outline.hidden = true;
      return;
    }
    tip.textContent = binText(bin);
    tip.dataset.bin = String(bin.index);
    tip.hidden = false;
    tip.style.left = `${Math.min(ev.clientX - r.left + 12, r.width - 160)}px`;
    tip.style.top = `${Math.max(0, ev.clientY - r.top - 28)}px`;
    outline.hidden = false;
    outline.style.left = `${xFrac(bin.lo) * 100}%`;
    outline.style.width = `${(xFrac(bin.hi) - xFrac(bin.lo)) * 100}%`;
    outline.style.top = `${top * 100}%`;
    outline.style.height = `${(bottom - top) * 100}%`;
  });
  img.addEventListener("mouseleave", () => {
    tip.hidden = true;
    outline.hidden = true;
  });
  return box;
}
