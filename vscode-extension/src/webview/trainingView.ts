/**
 * The Training tab: the loss and logged metrics over steps, the learning rate and gradient
 * norm beside them, the paused step and the loss spikes marked, and the layer table of the
 * step clicked (agent `step_layers`). Curves are SVG built with DOM calls, sized to the page.
 */
import { statValue } from "../wire/codec";
import { layerSiteRows } from "../wire/layerStats";
import { type CurvePoint, type Mover, type Spike, type Training } from "../wire/protocol";
import { formatNumber } from "../wire/summaryText";
import { nearestStep, project, stepScale, tickLabel, valueScale } from "./chartScale";
import { el, type Handlers } from "./element";
import { PAGE_PADDING, type PanelState } from "./state";
import { pathData, svg, tooltip } from "./svg";

export interface ChartGroup {
  title: string;
  keys: string[];
}

const isLr = (k: string) => /^(opt\d+\/)?lr(\/\d+)?$/.test(k);
const isGradNorm = (k: string) => k === "grad_norm" || k === "grad_norm_clipped";
const isUpdateRatio = (k: string) => k.startsWith("update_ratio/");
/** Update-ratio curves drawn at most (the layers with the largest latest ratio). */
const MAX_RATIO_CURVES = 6;

/**
 * Which curves share a chart: the loss; each logged metric on its own; the learning rates;
 * the gradient norms (before and after clipping); the layers' update ratios.
 */
export function chartGroups(scalars: Training["scalars"]): ChartGroup[] {
  const keys = Object.keys(scalars).filter((k) => scalars[k].length > 0);
  const groups: ChartGroup[] = [];
  if (keys.includes("loss")) groups.push({ title: "loss", keys: ["loss"] });
  for (const k of keys) if (k !== "loss" && !isLr(k) && !isGradNorm(k) && !isUpdateRatio(k)) groups.push({ title: k, keys: [k] });
  const lr = keys.filter(isLr);
  if (lr.length) groups.push({ title: "learning rate", keys: lr });
  const norms = keys.filter(isGradNorm);
  if (norms.length) groups.push({ title: "gradient norm", keys: norms });
  const latest = (k: string) => {
    const v = scalars[k][scalars[k].length - 1][1];
    return Number.isFinite(v) ? v : Number.POSITIVE_INFINITY;
  };
  const ratios = keys.filter(isUpdateRatio).sort((a, b) => latest(b) - latest(a));
  if (ratios.length) groups.push({ title: "update ratio ‖Δw‖/‖w‖", keys: ratios.slice(0, MAX_RATIO_CURVES) });
  return groups;
}

interface ChartBox {
  width: number;
  height: number;
}

const MARGIN = { left: 56, right: 12, top: 8, bottom: 22 };

function selectStep(step: number, h: Handlers): void {
  h.dispatch({ type: "selectStep", step });
  h.post({ type: "stepLayers", step });
}

function valueAt(points: readonly CurvePoint[], step: number): number | undefined {
  return points.find((p) => p[0] === step)?.[1];
}

function readoutText(group: ChartGroup, scalars: Training["scalars"], step: number): string {
  const parts = group.keys.map((k) => {
    const v = valueAt(scalars[k], step);
    return `${k} ${v === undefined ? "—" : formatNumber(v)}`;
  });
  return `step ${step}: ${parts.join(" · ")}`;
}

/** One chart: grid and ticks, one path per curve, non-finite values as red marks on the top edge. */
function chart(group: ChartGroup, training: Training, state: PanelState, box: ChartBox, h: Handlers, span: readonly number[]): HTMLElement {
  const scalars = training.scalars;
  const all = group.keys.flatMap((k) => scalars[k]);
  const steps = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  const xs = stepScale(span, Math.max(2, Math.min(10, Math.floor(box.width / 70))));
  const ys = valueScale(all.map((p) => p[1]));
  const { width, height } = box;
  const x = project(xs, MARGIN.left, width - MARGIN.right);
  const y = project(ys, height - MARGIN.bottom, MARGIN.top);
  const plot = svg("svg", {
    class: "chart-svg",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    tabindex: "0",
    "data-chart": group.title,
    "aria-label": `${group.title} over steps ${xs.lo} to ${xs.hi}; click a step for its layers`,
  });
  for (const t of ys.ticks) {
    plot.append(
      svg("line", { class: "grid", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(t), y2: y(t) }),
      svg("text", { class: "tick", x: MARGIN.left - 4, y: y(t) + 4, "text-anchor": "end" }, tickLabel(t)),
    );
  }
  for (const t of xs.ticks) plot.append(svg("text", { class: "tick", x: x(t), y: height - 6, "text-anchor": "middle" }, String(t)));
  plot.append(
    svg("line", { class: "axis", x1: MARGIN.left, x2: width - MARGIN.right, y1: height - MARGIN.bottom, y2: height - MARGIN.bottom }),
  );
  const current = training.step;
  if (current !== null && current >= xs.lo && current <= xs.hi) {
    plot.append(
      svg(
        "line",
        { class: "current-step", x1: x(current), x2: x(current), y1: MARGIN.top, y2: height - MARGIN.bottom, "data-step": current },
        tooltip(`paused at step ${current}`),
      ),
    );
  }
  const selected = state.selectedStep;
  if (selected !== null && selected >= xs.lo && selected <= xs.hi) {
    plot.append(svg("line", { class: "selected-step", x1: x(selected), x2: x(selected), y1: MARGIN.top, y2: height - MARGIN.bottom }));
  }
  group.keys.forEach((k, i) => {
    const points = scalars[k];
    plot.append(
      svg(
        "path",
        {
          class: `curve series-${i % 6}`,
          d: pathData(points.map((p) => (Number.isFinite(p[1]) ? [x(p[0]), y(p[1])] : null))),
          "data-key": k,
        },
        tooltip(k),
      ),
    );
    for (const p of points) {
      if (Number.isFinite(p[1])) {
        if (points.length <= 60) plot.append(svg("circle", { class: `dot series-${i % 6}`, cx: x(p[0]), cy: y(p[1]), r: 2 }));
        continue;
      }
      const what = Number.isNaN(p[1]) ? "NaN" : p[1] > 0 ? "+Inf" : "-Inf";
      plot.append(
        svg(
          "text",
          { class: "nonfinite-mark", x: x(p[0]), y: MARGIN.top + 10, "text-anchor": "middle", "data-step": p[0] },
          "×",
          tooltip(`${k} is ${what} at step ${p[0]}`),
        ),
      );
    }
  });
  for (const s of training.spikes.filter((sp) => group.keys.includes(sp.scalar))) {
    const v = typeof s.value === "number" ? s.value : null;
    plot.append(
      svg(
        "circle",
        { class: "spike", cx: x(s.step), cy: v === null ? MARGIN.top + 6 : y(v), r: 5, "data-step": s.step },
        tooltip(spikeText(s)),
      ),
    );
  }
  const readout = el(
    "p",
    { class: "readout muted", "aria-live": "polite" },
    selected !== null ? readoutText(group, scalars, selected) : "",
  );
  const stepFromEvent = (ev: MouseEvent): number | null => {
    const r = plot.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / (r.width || width)) * width;
    const v = xs.lo + ((px - MARGIN.left) / (width - MARGIN.left - MARGIN.right)) * (xs.hi - xs.lo);
    return nearestStep(steps, v);
  };
  plot.addEventListener("mousemove", (ev) => {
    const s = stepFromEvent(ev);
    if (s !== null) readout.textContent = readoutText(group, scalars, s);
  });
  plot.addEventListener("click", (ev) => {
    const s = stepFromEvent(ev);
    if (s !== null) selectStep(s, h);
  });
  plot.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    ev.preventDefault();
    const at = selected ?? current ?? steps[steps.length - 1];
    const i = steps.findIndex((s) => s >= (at ?? 0));
    const next = steps[Math.min(steps.length - 1, Math.max(0, (i < 0 ? steps.length : i) + (ev.key === "ArrowRight" ? 1 : -1)))];
    if (next !== undefined) selectStep(next, h);
  });
  const legend = el(
    "figcaption",
    {},
    el("span", { class: "chart-title" }, group.title),
    ...group.keys.map((k, i) =>
      el("span", { class: "legend-item" }, el("span", { class: `swatch series-${i % 6}`, "aria-hidden": "true" }), k),
    ),
  );
  return el("figure", { class: "chart", "data-chart": group.title }, legend, plot, readout);
}

function spikeText(s: Spike): string {
  const median = s.median === null ? "" : ` (running median ${formatNumber(s.median)})`;
  return `spike at step ${s.step}: ${s.scalar} ${formatNumber(s.value)}${median}`;
}

function stepLayerTable(state: PanelState): HTMLElement | null {
  const step = state.selectedStep;
  if (step === null) return el("p", { class: "muted" }, "Click a step on a chart to see that step's layer table.");
  const entry = state.stepLayers;
  if (!entry || entry.step !== step) return el("p", { class: "muted", id: "step-layers-status" }, `Loading the layers of step ${step}…`);
  if (entry.error) return el("p", { class: "error", id: "step-layers-status" }, `Layers of step ${step}: ${entry.error}`);
  const rows = layerSiteRows(entry.layers);
  if (rows.length === 0) return el("p", { class: "muted", id: "step-layers-status" }, `No layer statistics were recorded at step ${step}.`);
  return el(
    "table",
    { id: "step-layer-table", "aria-label": `layer statistics at step ${step}`, "data-step": String(step) },
    el("caption", {}, `layers at step ${step}`),
    el("thead", {}, el("tr", {}, ...["module", "site", "step", "statistics"].map((t) => el("th", { scope: "col" }, t)))),
    el(
      "tbody",
      {},
      ...rows.map((r) =>
        el(
          "tr",
          {
            "data-module": r.module,
            "data-site": r.site,
            class: [r.bad ? "bad" : "", r.module === state.graphNode ? "selected" : ""].join(" ").trim(),
          },
          el("td", { class: "name" }, r.module || "(root)"),
          el("td", {}, r.site),
          el("td", { class: "num" }, String(r.latest.step)),
          el(
            "td",
            {},
            Object.entries(r.latest.stats)
              .map(([k, v]) => `${k} ${formatNumber(v)}`)
              .join(" · "),
          ),
        ),
      ),
    ),
  );
}

const MOVER_SCALARS: Record<string, string> = { update_ratio: "update ratio", grad_norm: "gradient norm" };

/**
 * One layer that moved first before a spike: its name opens its node in the Graph tab (its row
 * in that step's layer table when the graph does not have it), and "row at step N" opens that
 * step's layer table with the layer's rows marked.
 */
function moverItem(m: Mover, training: Training, h: Handlers): HTMLElement {
  const inGraph = training.graph?.nodes.some((n) => n.id === m.layer) ?? false;
  const showRow = () => {
    h.dispatch({ type: "selectNode", id: m.layer });
    selectStep(m.step, h);
  };
  const name = el(
    "button",
    { type: "button", class: "link mover", "data-layer": m.layer, title: inGraph ? "show in the Graph tab" : "show its row" },
    m.layer || "(root)",
  );
  name.addEventListener("click", () => {
    if (!inGraph) return showRow();
    h.dispatch({ type: "selectNode", id: m.layer });
    h.dispatch({ type: "tab", tab: "graph" });
  });
  const row = el(
    "button",
    { type: "button", class: "link mover-row", "data-layer": m.layer, "data-step": String(m.step) },
    `row at step ${m.step}`,
  );
  row.addEventListener("click", showRow);
  const value = statValue(m.value);
  const median = statValue(m.median);
  const times =
    value !== null && median !== null && median > 0 ? ` (${formatNumber(value / median)}× its median ${formatNumber(m.median)})` : "";
  return el(
    "li",
    { "data-layer": m.layer },
    name,
    ` ${MOVER_SCALARS[m.scalar] ?? m.scalar} ${formatNumber(m.value)} at step ${m.step}${times} · `,
    row,
  );
}

function spikeList(training: Training, h: Handlers): HTMLElement | null {
  if (training.spikes.length === 0) return null;
  return el(
    "ul",
    { id: "spikes", "aria-label": "loss spikes" },
    ...training.spikes.map((s) => {
      const b = el("button", { type: "button", class: "link", "data-step": String(s.step) }, spikeText(s));
      b.addEventListener("click", () => selectStep(s.step, h));
      const moved = s.moved ?? [];
      const first = moved.length
        ? el(
            "ul",
            { class: "movers", "aria-label": `layers that moved first before step ${s.step}` },
            el("li", { class: "muted" }, moved.length > 1 ? "moved first, together:" : "moved first:"),
            ...moved.map((m) => moverItem(m, training, h)),
          )
        : null;
      return el("li", { "data-step": String(s.step) }, b, first);
    }),
  );
}

/** The whole tab for the stop's `training` answer. */
export function trainingTab(state: PanelState, h: Handlers): HTMLElement {
  const section = el("section", { id: "training", role: "tabpanel", "aria-labelledby": "tab-training" });
  const t = state.training;
  if (!t) {
    section.append(el("p", { class: "muted" }, "Loading the training curves…"));
    return section;
  }
  if (t.error) section.append(el("p", { class: "error" }, t.error));
  const training = t.training;
  const groups = training ? chartGroups(training.scalars) : [];
  if (!training || groups.length === 0) {
    section.append(
      el(
        "p",
        { class: "muted" },
        "No training curves yet: the loss, learning rate and gradient norm are recorded while a tensor breakpoint is armed.",
      ),
    );
    return section;
  }
  const width = Math.max(260, state.pageWidth - PAGE_PADDING);
  const columns = width >= 720 ? 2 : 1;
  const side = Math.floor((width - 12 * (columns - 1)) / columns);
  const [first, ...rest] = groups;
  // one step axis for every chart, so a step is at the same x in each of them
  const allSteps = groups.flatMap((g) => g.keys.flatMap((k) => training.scalars[k].map((p) => p[0])));
  const span = [Math.min(...allSteps), Math.max(...allSteps)];
  section.append(
    el(
      "p",
      { class: "muted" },
      training.step !== null ? `Paused at step ${training.step} (dashed line). ` : "",
      training.spikes.length ? `${training.spikes.length} spike${training.spikes.length > 1 ? "s" : ""} marked in red. ` : "",
      "Click a step for its layer table.",
    ),
    chart(first, training, state, { width, height: Math.round(Math.min(260, Math.max(160, width * 0.28))) }, h, span),
  );
  const spikes = spikeList(training, h);
  if (spikes) section.append(spikes);
  if (rest.length)
    section.append(el("div", { class: "chart-row" }, ...rest.map((g) => chart(g, training, state, { width: side, height: 150 }, h, span))));
  const card = stepLayerTable(state);
  if (card) section.append(el("section", { id: "step-layers", class: "card" }, card));
  return section;
}
