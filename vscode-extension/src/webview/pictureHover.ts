/**
 * Reading a picture under the pointer: its hover map (from the renderer) says where the data
 * lies in the picture. Over a histogram a pointer position gives a value, a bin, its range
 * and its count; over an image tile (of one image, or of a grid of the batch), the cell and
 * the value(s) drawn there with the tensor index they stand for. Shown beside the pointer, with the bin or cell outlined.
 */
import type { BinsHover, PictureHover, PixelsHover } from "../wire/render";
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

export interface CellUnderPointer {
  tile: number;
  row: number;
  col: number;
  text: string;
  /** the cell as [left, top, right, bottom] fractions of the picture */
  rect: [number, number, number, number];
}

function span(cell: number, cells: number, size: number): [number, number] {
  const block = Math.ceil(size / cells) || 1;
  return [cell * block, Math.min(size, (cell + 1) * block)];
}

/** The image cell under a point at fractions (`fx`, `fy`) of the picture, or null outside every tile. */
export function cellAt(hover: PixelsHover, fx: number, fy: number): CellUnderPointer | null {
  for (const [n, t] of hover.tiles.entries()) {
    const [left, top, right, bottom] = t.plot;
    if (fx < left || fx >= right || fy < top || fy >= bottom) continue;
    const col = Math.min(t.cols - 1, Math.floor(((fx - left) / (right - left)) * t.cols));
    const row = Math.min(t.rows - 1, Math.floor(((fy - top) / (bottom - top)) * t.rows));
    const [h, w] = hover.shape.length === 2 ? hover.shape : [t.rows, t.cols];
    const [r0, r1] = span(row, t.rows, h);
    const [c0, c1] = span(col, t.cols, w);
    const block = r1 - r0 > 1 || c1 - c0 > 1;
    const at = (a: number, b: number) => (b - a > 1 ? `${a}:${b}` : String(a));
    const channel = t.channels.length === 1 ? t.channels[0] : ":";
    // a tile of a batch grid is its own image, with its own values
    const image = t.batch_index ?? hover.batch_index;
    const grids = t.grids ?? hover.grids;
    const index = [...(hover.batched ? [String(image)] : []), channel, at(r0, r1), at(c0, c1)].join(", ");
    const values = t.channels.map((c) => formatNumber(grids[c]?.[row]?.[col] ?? null));
    const value = values.length === 1 ? values[0] : `(${values.join(", ")})`;
    const cw = (right - left) / t.cols;
    const ch = (bottom - top) / t.rows;
    return {
      tile: n,
      row,
      col,
      text: `${block ? "mean of " : ""}${hover.name}[${index}] = ${value}`,
      rect: [left + col * cw, top + row * ch, left + (col + 1) * cw, top + (row + 1) * ch],
    };
  }
  return null;
}

interface Readout {
  text: string;
  key: string;
  rect: [number, number, number, number];
}

function readout(hover: PictureHover, fx: number, fy: number): Readout | null {
  if (hover.kind === "pixels") {
    const cell = cellAt(hover, fx, fy);
    return cell ? { text: cell.text, key: `${cell.tile}:${cell.row}:${cell.col}`, rect: cell.rect } : null;
  }
  const bin = binAt(hover, fx, fy);
  if (!bin) return null;
  const [left, top, right, bottom] = hover.plot;
  const [lo, hi] = hover.xlim;
  const xFrac = (v: number) => left + ((v - lo) / (hi - lo)) * (right - left);
  return { text: binText(bin), key: String(bin.index), rect: [xFrac(bin.lo), top, xFrac(bin.hi), bottom] };
}

/**
 * The picture (the server's image, or the page's own SVG chart) with a readout of what is
 * under the pointer (a bin, an image cell).
 */
export function hoverablePicture(img: HTMLImageElement | SVGSVGElement, hover: PictureHover): HTMLElement {
  const outline = el("div", { class: "bin-outline", hidden: "" });
  const tip = el("div", { class: "bin-tip", role: "status", hidden: "" });
  const box = el("div", { class: "hoverable" }, img, outline, tip);
  const events: GlobalEventHandlers = img; // an <img> or an <svg>: the same mouse events
  events.addEventListener("mousemove", (ev) => {
    const r = img.getBoundingClientRect();
    const at = readout(hover, (ev.clientX - r.left) / (r.width || 1), (ev.clientY - r.top) / (r.height || 1));
    if (!at) {
      tip.hidden = true;
      outline.hidden = true;
      return;
    }
    tip.textContent = at.text;
    tip.dataset.at = at.key;
    tip.hidden = false;
    tip.style.left = `${Math.max(0, Math.min(ev.clientX - r.left + 12, r.width - 220))}px`;
    tip.style.top = `${Math.max(0, ev.clientY - r.top - 28)}px`;
    const [left, top, right, bottom] = at.rect;
    outline.hidden = false;
    outline.style.left = `${left * 100}%`;
    outline.style.width = `${(right - left) * 100}%`;
    outline.style.top = `${top * 100}%`;
    outline.style.height = `${(bottom - top) * 100}%`;
  });
  events.addEventListener("mouseleave", () => {
    tip.hidden = true;
    outline.hidden = true;
  });
  return box;
}
