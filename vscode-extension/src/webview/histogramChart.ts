/**
 * The hit tensor's histogram drawn by the page itself, as SVG, from the snapshot's own bins
 * (`summary.hist`), in the same render as the banner, so a picture is on screen at once. It
 * stands where the language server's picture goes (`#detail`) and draws what
 * `py_backend/tensorpeek/render/histogram.py` draws: the finite bins as filled steps, the mean,
 * mean ± σ, min and max marked, the legend above the plot (never over the bars), NaN / +Inf /
 * -Inf as labelled bars beside it in the bad colour, a constant tensor widened to a visible bar.
 * The server's picture replaces it when it comes. Hovering a bin reads its range and count
 * as over the server's picture (pictureHover). Every debuggee string is a text node.
 */
import { statValue } from "../wire/codec";
import type { Hit, TensorSummary } from "../wire/protocol";
import { pictureSize, type BinsHover } from "../wire/render";
import { formatNumber, hitTensorName } from "../wire/summaryText";
import { countScale, project, tickLabel, valueScale } from "./chartScale";
import { el } from "./element";
import { binText, hoverablePicture } from "./pictureHover";
import { svg, tooltip } from "./svg";

const NONFINITE = [
  ["nan", "NaN"],
  ["posinf", "+Inf"],
  ["neginf", "-Inf"],
] as const;

export interface Bins {
  edges: number[];
  counts: number[];
}

/**
 * The bins as drawn (histogram.py's `drawn_bins`): the summary's, except that a constant
 * tensor's one bin of zero width is widened to a visible bar. None when there are no usable bins.
 */
export function drawnBins(s: TensorSummary): Bins {
  const edges = (s.hist?.edges ?? []).map((e) => statValue(e) ?? Number.NaN);
  const counts = s.hist?.counts ?? [];
  if (counts.length === 0 || edges.length !== counts.length + 1 || !edges.every(Number.isFinite)) return { edges: [], counts: [] };
  const total = counts.reduce((a, b) => a + b, 0);
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  if (total > 0 && hi <= lo) {
    const pad = Math.abs(lo) * 0.05 || 0.5;
    return { edges: [lo - pad, hi + pad], counts: [total] };
  }
  return { edges, counts: [...counts] };
}

/** NaN / +Inf / -Inf with a count above 0, in that order. */
export function nonFiniteBars(s: TensorSummary): Array<{ key: string; label: string; count: number }> {
  return NONFINITE.map(([key, label]) => ({ key, label, count: s[key] ?? 0 })).filter((b) => b.count > 0);
}

interface LegendItem {
  kind: "bars" | "band" | "mean" | "extreme";
  glyph: string;
  label: string;
}

function legendItems(s: TensorSummary): LegendItem[] {
  const items: LegendItem[] = [{ kind: "bars", glyph: "█", label: "count" }];
  const mean = statValue(s.mean);
  const std = statValue(s.std);
  const finite = (v: number | null): v is number => v !== null && Number.isFinite(v);
  if (finite(mean) && finite(std) && std > 0) items.push({ kind: "band", glyph: "█", label: "μ ± σ" });
  if (finite(mean)) items.push({ kind: "mean", glyph: "━", label: `μ=${formatNumber(mean)}` });
  for (const [key, name] of [
    ["min", "min"],
    ["max", "max"],
  ] as const) {
    const v = statValue(s[key]);
    if (finite(v)) items.push({ kind: "extreme", glyph: "╍", label: `${name}=${formatNumber(v)}` });
  }
  return items;
}

/** A generous guess at a text's width (no layout yet when the chart is built): only decides where things go. */
const textWidth = (text: string, size: number): number => text.length * size * 0.62;
const LEGEND_GAP = 12; // between legend items
const LEGEND_SWATCH_GAP = 4; // between a swatch and its label
const TITLE_SIZE = 12;
const LEGEND_SIZE = 11;
const LINE = 16; // a line of the title or the legend

const itemWidth = (i: LegendItem): number => textWidth(`${i.glyph}${i.label}`, LEGEND_SIZE) + LEGEND_SWATCH_GAP;

/** The legend's items in lines of at most `width` (estimated), as few lines as that allows. */
function legendLines(items: readonly LegendItem[], width: number): LegendItem[][] {
  const lines: LegendItem[][] = [];
  let used = 0;
  for (const item of items) {
    const w = itemWidth(item);
    const line = lines[lines.length - 1];
    if (line && used + LEGEND_GAP + w <= width) {
      line.push(item);
      used += LEGEND_GAP + w;
    } else {
      lines.push([item]);
      used = w;
    }
  }
  return lines;
}

/** One `<text>` per line, right-aligned at `x`: a coloured glyph then the label, per item. */
function legend(lines: readonly LegendItem[][], x: number, y: number): SVGGElement {
  const group = svg("g", { class: "hist-legend" });
  lines.forEach((items, row) => {
    const text = svg("text", { x, y: y + row * LINE, "text-anchor": "end" });
    items.forEach((item, n) => {
      text.append(
        svg("tspan", { class: `swatch-${item.kind}`, dx: n === 0 ? 0 : LEGEND_GAP }, item.glyph),
        svg("tspan", { class: "legend-label", dx: LEGEND_SWATCH_GAP }, item.label),
      );
    });
    group.append(text);
  });
  return group;
}

/** `text` shortened in the middle to about `width` (estimated), whole when it fits. */
function fitted(text: string, size: number, width: number): string {
  const most = Math.max(8, Math.floor(width / (size * 0.62)));
  if (text.length <= most) return text;
  const head = Math.ceil((most - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (most - 1 - head))}`;
}

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

function note(box: Box, text: string): SVGTextElement {
  return svg(
    "text",
    {
      class: "hist-note",
      x: (box.left + box.right) / 2,
      y: (box.top + box.bottom) / 2,
      "text-anchor": "middle",
      "dominant-baseline": "middle",
    },
    text,
  );
}

/** The finite bins, the marks, the axes; returns the value range across the plot (for the hover map). */
function drawBins(root: SVGSVGElement, s: TensorSummary, bins: Bins, plot: Box, height: number): [number, number] {
  const n = bins.counts.length;
  const marks = [statValue(s.min), statValue(s.max)].filter((v): v is number => v !== null && Number.isFinite(v));
  // matplotlib's 5% margins either side of the data, then out to nice ticks
  const lo = Math.min(bins.edges[0], ...marks);
  const hi = Math.max(bins.edges[n], ...marks);
  const xs = valueScale(
    [lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05],
    Math.max(2, Math.min(10, Math.floor((plot.right - plot.left) / 80))),
  );
  const ys = countScale(Math.max(...bins.counts), Math.max(2, Math.min(6, Math.floor((plot.bottom - plot.top) / 40))));
  const x = project(xs, plot.left, plot.right);
  const y = project(ys, plot.bottom, plot.top);
  const clampX = (v: number) => Math.min(plot.right, Math.max(plot.left, x(v)));
  for (const t of ys.ticks) {
    root.append(
      svg("line", { class: "grid", x1: plot.left, x2: plot.right, y1: y(t), y2: y(t) }),
      svg("text", { class: "tick y-tick", x: plot.left - 5, y: y(t) + 4, "text-anchor": "end", "data-value": t }, tickLabel(t)),
    );
  }
  for (const t of xs.ticks) {
    const label = tickLabel(t);
    // a label centred on the last tick would run past the right margin: it ends there instead
    const anchor = x(t) + textWidth(label, LEGEND_SIZE) / 2 > plot.right + 10 ? "end" : "middle";
    root.append(
      svg("line", { class: "axis", x1: x(t), x2: x(t), y1: plot.bottom, y2: plot.bottom + 4 }),
      svg("text", { class: "tick x-tick", x: x(t), y: plot.bottom + 16, "text-anchor": anchor, "data-value": t }, label),
    );
  }
  root.append(svg("text", { class: "tick axis-label", x: (plot.left + plot.right) / 2, y: height - 5, "text-anchor": "middle" }, "value"));
  const mean = statValue(s.mean);
  const std = statValue(s.std);
  if (mean !== null && std !== null && Number.isFinite(mean) && Number.isFinite(std) && std > 0) {
    const a = clampX(mean - std);
    root.append(
      svg(
        "rect",
        { class: "hist-band", x: a, y: plot.top, width: Math.max(0, clampX(mean + std) - a), height: plot.bottom - plot.top },
        tooltip(`μ ± σ: ${formatNumber(mean - std)} … ${formatNumber(mean + std)}`),
      ),
    );
  }
  const bars = svg("g", { class: "bins" });
  for (let i = 0; i < n; i++) {
    const count = bins.counts[i];
    const top = y(count);
    const text = binText({ index: i, lo: bins.edges[i], hi: bins.edges[i + 1], count, last: i === n - 1 });
    bars.append(
      svg(
        "rect",
        {
          class: "bin",
          x: x(bins.edges[i]),
          y: top,
          width: Math.max(0, x(bins.edges[i + 1]) - x(bins.edges[i])),
          height: Math.max(0, plot.bottom - top),
          "data-index": i,
          "data-count": count,
        },
        tooltip(text),
      ),
    );
  }
  root.append(bars);
  if (mean !== null && Number.isFinite(mean))
    root.append(
      svg("line", { class: "hist-mean", x1: x(mean), x2: x(mean), y1: plot.top, y2: plot.bottom }, tooltip(`μ = ${formatNumber(mean)}`)),
    );
  for (const [key, name] of [
    ["min", "min"],
    ["max", "max"],
  ] as const) {
    const v = statValue(s[key]);
    if (v !== null && Number.isFinite(v))
      root.append(
        svg(
          "line",
          { class: "hist-extreme", "data-mark": key, x1: x(v), x2: x(v), y1: plot.top, y2: plot.bottom },
          tooltip(`${name} = ${formatNumber(v)}`),
        ),
      );
  }
  root.append(
    svg("line", { class: "axis", x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom }),
    svg("line", { class: "axis", x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom }),
  );
  return [xs.lo, xs.hi];
}

/** NaN / +Inf / -Inf beside the plot: their own bars on their own scale, each labelled with its count. */
function drawNonFinite(root: SVGSVGElement, bad: ReturnType<typeof nonFiniteBars>, side: Box): void {
  const group = svg("g", { class: "nonfinite", "aria-label": "non-finite values" });
  const slot = (side.right - side.left) / bad.length;
  const tallest = Math.max(...bad.map((b) => b.count));
  const y = (count: number) => side.bottom - (count / (tallest * 1.25)) * (side.bottom - side.top);
  group.append(svg("line", { class: "axis", x1: side.left, x2: side.right, y1: side.bottom, y2: side.bottom }));
  bad.forEach((b, i) => {
    const centre = side.left + slot * (i + 0.5);
    const w = Math.min(40, slot * 0.6);
    const top = y(b.count);
    const words = `${b.count} ${b.label} value${b.count === 1 ? "" : "s"}`;
    group.append(
      svg(
        "rect",
        { class: "nonfinite-bar", "data-kind": b.key, x: centre - w / 2, y: top, width: w, height: side.bottom - top },
        tooltip(words),
      ),
      svg("text", { class: "nonfinite-count", "data-kind": b.key, x: centre, y: top - 4, "text-anchor": "middle" }, String(b.count)),
      svg("text", { class: "nonfinite-label", "data-kind": b.key, x: centre, y: side.bottom + 16, "text-anchor": "middle" }, b.label),
    );
  });
  root.append(group);
}

/** The histogram of `name` (summary `s`) as a figure sized for a page `pageWidth` CSS pixels wide, as the server's would be. */
export function histogramFigure(name: string, s: TensorSummary, pageWidth: number): HTMLElement {
  const { width, height } = pictureSize(pageWidth);
  const bins = drawnBins(s);
  const total = bins.counts.reduce((a, b) => a + b, 0);
  const bad = nonFiniteBars(s);
  const title = s.hist?.sampled ? `${name}  (sampled)` : name;
  const badWords = bad.map((b) => `${b.count} ${b.label}`).join(", ");
  const root = svg("svg", {
    class: "chart-svg hist-chart",
    "data-kind": "histogram",
    "data-source": "page",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `histogram of ${name}: ${total} finite values in ${bins.counts.length} bins${badWords ? `, ${badWords}` : ""}`,
  });
  const shownTitle = fitted(title, TITLE_SIZE, width - 8);
  root.append(svg("text", { class: "hist-title", x: 4, y: 15 }, shownTitle, shownTitle === title ? null : tooltip(title)));
  const caption = el("figcaption", {}, `histogram of ${name}`);
  if (total === 0 && bad.length === 0) {
    root.append(note({ left: 0, top: 24, right: width, bottom: height }, s.numel ? "no finite values" : "no values"));
    return el("figure", { class: "page-chart" }, root, caption);
  }
  const sideWidth = bad.length ? Math.min(Math.round(width * 0.25), 24 + 48 * bad.length) : 0;
  const right = width - 12 - sideWidth;
  const items = total > 0 ? legendItems(s) : [];
  // the legend beside the title when both fit on one line; else in lines of its own under it
  // (a narrow picture puts it a line lower, as the server does)
  const titleWidth = textWidth(shownTitle, TITLE_SIZE);
  const beside = legendLines(items, right - titleWidth - 4 - 24);
  const oneLine = width >= 760 && beside.length === 1;
  const lines = oneLine ? beside : legendLines(items, right - 4);
  const plot: Box = { left: 56, top: oneLine ? 26 : 26 + LINE * lines.length, right, bottom: height - 38 };
  root.append(
    svg("rect", {
      class: "plot-area",
      x: plot.left,
      y: plot.top,
      width: plot.right - plot.left,
      height: plot.bottom - plot.top,
    }),
  );
  let picture: HTMLElement | SVGSVGElement = root;
  if (total > 0) {
    const xlim = drawBins(root, s, bins, plot, height);
    const hover: BinsHover = {
      kind: "bins",
      plot: [plot.left / width, plot.top / height, plot.right / width, plot.bottom / height],
      xlim,
      edges: bins.edges,
      counts: bins.counts,
    };
    picture = hoverablePicture(root, hover);
    picture.classList.add("page-chart-box");
  } else {
    root.append(
      note(plot, "no finite values"),
      svg("line", { class: "axis", x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom }),
      svg("line", { class: "axis", x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom }),
    );
  }
  if (items.length) root.append(legend(lines, plot.right, oneLine ? 15 : 15 + LINE));
  if (bad.length) drawNonFinite(root, bad, { left: right + 12, top: plot.top, right: width - 12, bottom: plot.bottom });
  return el("figure", { class: "page-chart" }, picture, caption);
}

/** The hit tensor's histogram, drawn here until the server's picture of it comes; null without a summary. */
export function hitHistogram(hit: Hit, pageWidth: number): HTMLElement | null {
  return hit.summary ? histogramFigure(hitTensorName(hit), hit.summary, pageWidth) : null;
}
