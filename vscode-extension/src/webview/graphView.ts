/**
 * The Graph tab: the module graph of the traced forward pass (agent `training`), laid out by
 * the language server (`tensorpeek/layoutGraph`, a layered layout), drawn as SVG with DOM
 * calls. Nodes are coloured by health; functional edges (code between modules: a residual
 * add, a view) are dashed and labelled; a click on a node shows its statistics. The wheel
 * zooms, dragging pans, "Fit" shows the whole graph.
 */
import { layerSiteRows } from "../wire/layerStats";
import type { GraphNode, Health, ModuleGraph, Snapshot } from "../wire/protocol";
import type { GraphLayout } from "../wire/render";
import { formatNumber, formatShape } from "../wire/summaryText";
import { el, type Handlers } from "./element";
import { PAGE_PADDING, type PanelState } from "./state";
import { pathData, svg, tooltip } from "./svg";

export const HEALTH_TEXT: Record<Health, string> = {
  origin: "non-finite origin",
  propagated: "non-finite, propagated",
  dead: "dead",
  vanishing: "vanishing",
  healthy: "healthy",
  unknown: "not recorded",
};

interface ViewBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The pan/zoom of the graph shown, kept across re-renders of the page (not part of the state). */
let view: { key: string; box: ViewBox } | undefined;

const PAD = 8;
const MAX_HEIGHT = 640;

function layoutKey(layout: GraphLayout): string {
  return `${layout.width}x${layout.height}:${layout.nodes.map((n) => n.id).join("\u0000")}`;
}

function fitBox(layout: GraphLayout): ViewBox {
  return { x: -PAD, y: -PAD, w: layout.width + 2 * PAD, h: layout.height + 2 * PAD };
}

function setBox(plot: SVGSVGElement, box: ViewBox): void {
  plot.setAttribute("viewBox", `${box.x.toFixed(1)} ${box.y.toFixed(1)} ${box.w.toFixed(1)} ${box.h.toFixed(1)}`);
}

function nodeLabel(n: GraphNode): string {
  return n.id === "" ? n.label || "input" : n.label || n.id;
}

function fits(text: string, width: number): string {
  const chars = Math.max(3, Math.floor((width - 10) / 7));
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

function selectNode(id: string, h: Handlers): void {
  h.dispatch({ type: "selectNode", id });
}

function drawGraph(graph: ModuleGraph, layout: GraphLayout, state: PanelState, h: Handlers): SVGSVGElement {
  const width = Math.max(240, state.pageWidth - PAGE_PADDING);
  const fit = fitBox(layout);
  // fit to the width, but no taller than the page shows at once (the side bar view is short)
  const room = Math.max(200, Math.min(MAX_HEIGHT, window.innerHeight - 40));
  const height = Math.round(Math.min(room, Math.max(160, fit.h * Math.min(1.5, width / fit.w))));
  const key = layoutKey(layout);
  if (view?.key !== key) view = { key, box: fit };
  const plot = svg("svg", {
    id: "graph-svg",
    width,
    height,
    role: "group",
    "aria-label": `module graph: ${graph.nodes.length} modules, ${graph.edges.length} edges`,
  });
  setBox(plot, view.box);
  plot.append(
    svg(
      "defs",
      {},
      svg(
        "marker",
        { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        svg("path", { d: "M0,0L10,5L0,10z", class: "arrow-head" }),
      ),
    ),
  );
  const kinds = new Map(graph.edges.map((e) => [`${e.source}\u0000${e.target}`, e]));
  for (const e of layout.edges) {
    const edge = kinds.get(`${e.source}\u0000${e.target}`);
    const points = e.points.filter((p) => p.length >= 2).map((p) => [p[0], p[1]] as const);
    if (points.length < 2) continue;
    const functional = edge?.kind === "functional";
    const g = svg(
      "g",
      { class: functional ? "edge functional" : "edge", "data-source": e.source, "data-target": e.target },
      svg("path", { d: pathData(points), "marker-end": "url(#arrow)" }),
      tooltip(
        `${e.source || "input"} → ${e.target || "input"}${functional ? ` (functional: ${edge?.label ?? "code between modules"})` : ""}`,
      ),
    );
    if (functional && edge?.label) {
      const mid = points[Math.floor(points.length / 2)];
      const before = points[Math.max(0, Math.floor(points.length / 2) - 1)];
      g.append(svg("text", { class: "edge-label", x: (mid[0] + before[0]) / 2 + 4, y: (mid[1] + before[1]) / 2 }, edge.label));
    }
    plot.append(g);
  }
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  for (const box of layout.nodes) {
    const node = byId.get(box.id);
    if (!node) continue;
    const label = nodeLabel(node);
    const g = svg(
      "g",
      {
        class: `node health-${node.health}${state.graphNode === node.id ? " selected" : ""}`,
        "data-id": node.id,
        "data-health": node.health,
        tabindex: "0",
        role: "button",
        "aria-label": `${label} (${node.type}): ${HEALTH_TEXT[node.health]}`,
      },
      svg("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 4 }),
      svg("text", { x: box.x + box.w / 2, y: box.y + box.h / 2 + 4, "text-anchor": "middle" }, fits(label, box.w)),
      tooltip(`${label} (${node.type}): ${HEALTH_TEXT[node.health]}`),
    );
    g.addEventListener("click", (ev) => {
      ev.stopPropagation();
      selectNode(node.id, h);
    });
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        selectNode(node.id, h);
      }
    });
    plot.append(g);
  }
  panZoom(plot, fit);
  return plot;
}

/** Wheel zooms about the pointer; dragging pans. Changes only the viewBox (no re-render). */
function panZoom(plot: SVGSVGElement, fit: ViewBox): void {
  const toLayout = (ev: MouseEvent, box: ViewBox) => {
    const r = plot.getBoundingClientRect();
    // meet: the viewBox is scaled uniformly and centred
    const s = Math.min(r.width / box.w, r.height / box.h) || 1;
    const ox = (r.width - box.w * s) / 2;
    const oy = (r.height - box.h * s) / 2;
    return { x: box.x + (ev.clientX - r.left - ox) / s, y: box.y + (ev.clientY - r.top - oy) / s, s };
  };
  plot.addEventListener(
    "wheel",
    (ev) => {
      if (!view) return;
      ev.preventDefault();
      const box = view.box;
      const at = toLayout(ev, box);
      const factor = Math.exp(Math.sign(ev.deltaY) * 0.15);
      const w = Math.min(fit.w * 4, Math.max(40, box.w * factor));
      const k = w / box.w;
      view.box = { x: at.x - (at.x - box.x) * k, y: at.y - (at.y - box.y) * k, w, h: box.h * k };
      setBox(plot, view.box);
    },
    { passive: false },
  );
  let drag: { x: number; y: number; box: ViewBox; s: number } | undefined;
  plot.addEventListener("pointerdown", (ev) => {
    if (!view || (ev.target as Element).closest(".node")) return;
    drag = { x: ev.clientX, y: ev.clientY, box: view.box, s: toLayout(ev, view.box).s };
    plot.setPointerCapture(ev.pointerId);
  });
  plot.addEventListener("pointermove", (ev) => {
    if (!drag || !view) return;
    view.box = { ...drag.box, x: drag.box.x - (ev.clientX - drag.x) / drag.s, y: drag.box.y - (ev.clientY - drag.y) / drag.s };
    setBox(plot, view.box);
  });
  plot.addEventListener("pointerup", () => (drag = undefined));
}

function zoomButton(label: string, title: string, onClick: () => void): HTMLElement {
  const b = el("button", { type: "button", class: "tool", title, "aria-label": title }, label);
  b.addEventListener("click", onClick);
  return b;
}

function toolbar(layout: GraphLayout): HTMLElement {
  const zoom = (factor: number) => {
    const plot = document.getElementById("graph-svg") as SVGSVGElement | null;
    if (!plot || !view) return;
    const b = view.box;
    const w = b.w * factor;
    const hgt = b.h * factor;
    view.box = { x: b.x + (b.w - w) / 2, y: b.y + (b.h - hgt) / 2, w, h: hgt };
    setBox(plot, view.box);
  };
  const legend = (Object.keys(HEALTH_TEXT) as Health[]).map((k) =>
    el("span", { class: "legend-item" }, el("span", { class: `swatch health-${k}`, "aria-hidden": "true" }), HEALTH_TEXT[k]),
  );
  return el(
    "div",
    { class: "graph-tools" },
    zoomButton("Fit", "fit the whole graph", () => {
      const plot = document.getElementById("graph-svg") as SVGSVGElement | null;
      if (!plot || !view) return;
      view.box = fitBox(layout);
      setBox(plot, view.box);
    }),
    zoomButton("+", "zoom in", () => zoom(1 / 1.25)),
    zoomButton("−", "zoom out", () => zoom(1.25)),
    el(
      "span",
      { class: "legend" },
      ...legend,
      el("span", { class: "legend-item" }, el("span", { class: "swatch dashed", "aria-hidden": "true" }), "functional edge"),
    ),
  );
}

/** What is known about a node at this stop: its rows of the layer table and its parameters. */
function nodeCard(node: GraphNode, snapshot: Snapshot): HTMLElement {
  const rows = layerSiteRows(snapshot.layers.filter((l) => l.module === node.id));
  const params = (snapshot.model?.params ?? []).filter((p) => p.module === node.id);
  const label = nodeLabel(node);
  return el(
    "section",
    { id: "node-detail", class: "card", "aria-label": `statistics of ${label}` },
    el("h3", {}, `${label} (${node.type})`),
    el("p", { class: `health-text health-${node.health}` }, HEALTH_TEXT[node.health]),
    rows.length
      ? el(
          "table",
          { id: "node-layer-table", "aria-label": `recorded statistics of ${label}` },
          el("thead", {}, el("tr", {}, ...["site", "step", "latest statistics"].map((t) => el("th", { scope: "col" }, t)))),
          el(
            "tbody",
            {},
            ...rows.map((r) =>
              el(
                "tr",
                { "data-site": r.site, class: r.bad ? "bad" : "" },
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
        )
      : el("p", { class: "muted" }, "No statistics were recorded for this module at this stop (no breakpoint watches it)."),
    params.length
      ? el(
          "table",
          { id: "node-params", "aria-label": `parameters of ${label}` },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["parameter", "shape", "norm", "NaN/Inf", "grad norm", "grad NaN/Inf"].map((t) => el("th", { scope: "col" }, t)),
            ),
          ),
          el(
            "tbody",
            {},
            ...params.map((p) =>
              el(
                "tr",
                { "data-name": p.name, class: (p.stats?.nonfinite ?? 0) > 0 || (p.grad?.nonfinite ?? 0) > 0 ? "bad" : "" },
                el("td", { class: "name" }, p.name.slice(p.module ? p.module.length + 1 : 0)),
                el("td", {}, formatShape(p.shape)),
                el("td", { class: "num" }, formatNumber(p.stats?.norm ?? null)),
                el("td", { class: "num" }, p.stats?.nonfinite === null || p.stats === null ? "?" : String(p.stats.nonfinite)),
                el("td", { class: "num" }, formatNumber(p.grad?.norm ?? null)),
                el("td", { class: "num" }, p.grad ? (p.grad.nonfinite === null ? "?" : String(p.grad.nonfinite)) : "—"),
              ),
            ),
          ),
        )
      : null,
  );
}

/** The whole tab. */
export function graphTab(state: PanelState, snapshot: Snapshot, h: Handlers): HTMLElement {
  const section = el("section", { id: "graph", role: "tabpanel", "aria-labelledby": "tab-graph" });
  const t = state.training;
  if (!t) {
    section.append(el("p", { class: "muted" }, "Loading the module graph…"));
    return section;
  }
  const graph = t.training?.graph;
  if (!graph) {
    section.append(
      el("p", { class: "muted" }, "No module graph yet: it is traced from the first forward pass while a tensor breakpoint is armed."),
    );
    return section;
  }
  if (!t.layout) {
    section.append(el("p", { class: "error" }, t.error ?? "The language server did not lay the graph out."));
    return section;
  }
  section.append(toolbar(t.layout), el("div", { class: "graph-box" }, drawGraph(graph, t.layout, state, h)));
  const node = graph.nodes.find((n) => n.id === state.graphNode);
  section.append(node ? nodeCard(node, snapshot) : el("p", { class: "muted" }, "Click a module for its statistics."));
  return section;
}
