/**
 * Building the Tensor panel's DOM. Every string from the debuggee is set with `textContent`
 * or as an attribute value, never parsed as HTML, so a tensor named `<img onerror=...>` is text.
 */
import { chartMetric, historyValues, layerSiteRows } from "../wire/layerStats";
import {
  isNonFinite,
  nonFiniteCount,
  type FrameTensor,
  type ModelTree,
  type ParamStats,
  type Snapshot,
  type TensorSummary,
} from "../wire/protocol";
import { formatNumber, formatShape, hitTensorName, sparkline, trendline } from "../wire/summaryText";
import type { PanelPicture } from "../wire/webviewProtocol";
import { el, type Handlers } from "./element";
import { graphTab } from "./graphView";
import { hitHistogram } from "./histogramChart";
import { imageControls } from "./imageControls";
import { hoverablePicture } from "./pictureHover";
import { banner, modelGroups, sortedTensors, SORT_KEYS, type PanelState, type SortKey, type Tab } from "./state";
import { trainingTab } from "./trainingView";

export { el, type Handlers } from "./element";

const COLUMN_TITLES: Record<SortKey, string> = {
  name: "name",
  shape: "shape",
  dtype: "dtype",
  min: "min",
  max: "max",
  mean: "mean",
  std: "std",
  nonfinite: "NaN/Inf",
};

function bannerSection(snapshot: Snapshot, session: string): HTMLElement {
  const b = banner(snapshot.hit);
  const facts = el("dl", { class: "facts" });
  for (const [k, v] of b.facts) facts.append(el("dt", {}, k), el("dd", { "data-fact": k }, v));
  return el(
    "section",
    { id: "banner", class: b.bad ? "banner bad" : "banner", "aria-live": "polite" },
    el("h2", {}, b.title),
    facts,
    session ? el("p", { class: "muted" }, `session: ${session}`) : null,
  );
}

function sortButton(key: SortKey, state: PanelState, h: Handlers): HTMLElement {
  const active = state.sortKey === key;
  const arrow = active ? (state.descending ? " ▼" : " ▲") : "";
  const button = el(
    "button",
    { type: "button", class: "sort", "data-sort": key, "aria-label": `sort by ${COLUMN_TITLES[key]}` },
    COLUMN_TITLES[key] + arrow,
  );
  button.addEventListener("click", () => h.dispatch({ type: "sort", key }));
  const th = el("th", { scope: "col" }, button);
  if (active) th.setAttribute("aria-sort", state.descending ? "descending" : "ascending");
  return th;
}

function selectTensor(t: FrameTensor, h: Handlers): void {
  h.dispatch({ type: "select", name: t.name });
  h.post({ type: "selectTensor", name: t.name, expression: t.expression });
}

function tensorRow(t: FrameTensor, state: PanelState, h: Handlers): HTMLElement {
  const s = t.summary;
  const bad = isNonFinite(s);
  const nf = nonFiniteCount(s);
  const row = el(
    "tr",
    {
      tabindex: "0",
      "data-name": t.name,
      class: [bad ? "bad" : "", state.selected === t.name ? "selected" : ""].join(" ").trim(),
      "aria-selected": String(state.selected === t.name),
    },
    el(
      "td",
      { class: "name" },
      bad ? el("span", { class: "badge", title: "contains NaN or Inf" }, "!") : null,
      t.name,
      t.scope === "global"
        ? el(
            "span",
            { class: "scope muted", title: "a module global, not this function's local: it may be from an earlier step" },
            " global",
          )
        : null,
    ),
    el("td", {}, formatShape(s.shape)),
    el("td", {}, s.dtype.replace(/^torch\./, "")),
    el("td", { class: "num" }, formatNumber(s.min)),
    el("td", { class: "num" }, formatNumber(s.max)),
    el("td", { class: "num" }, formatNumber(s.mean)),
    el("td", { class: "num" }, formatNumber(s.std)),
    el("td", { class: "num", title: `nan ${s.nan ?? "?"}, +inf ${s.posinf ?? "?"}, -inf ${s.neginf ?? "?"}` }, nf ? String(nf) : ""),
    el("td", { class: "spark", "aria-hidden": "true" }, sparkline(s.hist?.counts ?? [])),
    el("td", {}, s.device),
  );
  row.addEventListener("click", () => selectTensor(t, h));
  row.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      selectTensor(t, h);
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = ev.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
      (next as HTMLElement | null)?.focus();
    }
  });
  return row;
}

function tensorTable(snapshot: Snapshot, state: PanelState, h: Handlers): HTMLElement {
  if (snapshot.tensors.length === 0) return el("p", { class: "muted" }, "No tensors in this frame.");
  const head = el(
    "tr",
    {},
    ...SORT_KEYS.map((k) => sortButton(k, state, h)),
    el("th", { scope: "col" }, "histogram"),
    el("th", { scope: "col" }, "device"),
  );
  const body = el("tbody", {}, ...sortedTensors(snapshot.tensors, state.sortKey, state.descending).map((t) => tensorRow(t, state, h)));
  return el(
    "table",
    { id: "tensor-table", "aria-label": "tensors in the frame" },
    el("thead", {}, head),
    body,
    snapshot.truncated ? el("caption", {}, "more tensors in the frame than the snapshot holds") : null,
  );
}

function pictureFigure(p: PanelPicture): HTMLElement {
  const img = el("img", { alt: p.title, "data-kind": p.kind });
  img.src = `data:${p.mime};base64,${p.data}`;
  return el("figure", {}, p.hover ? hoverablePicture(img, p.hover) : img, el("figcaption", {}, p.title));
}

/** The host's pictures; until they come (or when they failed), `drawn`: what the page draws itself, if anything. */
function picturesBlock(entry: PanelState["pictures"][string] | undefined, drawn?: () => HTMLElement | null): HTMLElement {
  const own = entry?.pictures.length ? null : (drawn?.() ?? null);
  if (!entry && !own) return el("p", { class: "muted" }, "Rendering…");
  return el(
    "div",
    { class: "pictures" },
    entry?.error ? el("p", { class: "error" }, entry.error) : null,
    ...(entry?.pictures.length ? entry.pictures.map(pictureFigure) : [own]),
  );
}

function detailCard(snapshot: Snapshot, state: PanelState, h: Handlers): HTMLElement | null {
  const tensor = snapshot.tensors.find((t) => t.name === state.selected);
  if (tensor) {
    const s = tensor.summary;
    return el(
      "section",
      { id: "detail", class: "card", "aria-label": `details of ${tensor.name}` },
      el("h3", {}, tensor.name),
      el(
        "p",
        {},
        `${formatShape(s.shape)} ${s.dtype} on ${s.device} · ${s.numel} elements · norm ${formatNumber(s.norm)} · zeros ${s.zeros ?? "?"}`,
      ),
      s.note ? el("p", { class: "muted" }, s.note) : null,
      imageControls(tensor, state, h),
      picturesBlock(state.pictures[`tensor:${tensor.name}`]),
    );
  }
  const hit = snapshot.hit;
  if (hit) {
    return el(
      "section",
      { id: "detail", class: "card", "aria-label": "the tensor that hit the breakpoint" },
      el("h3", {}, hit.label || hitTensorName(hit)),
      picturesBlock(state.pictures.hit, () => hitHistogram(hit, state.pageWidth)),
      causeTables(snapshot),
    );
  }
  return null;
}

const BACKWARD_SITES = new Set(["grad_output", "grad_input", "param_grad"]);

function statCells(s: TensorSummary | null | undefined): HTMLElement[] {
  if (!s) return [el("td", { class: "muted", colspan: "5" }, "—")];
  const nf = nonFiniteCount(s);
  return [
    el("td", {}, formatShape(s.shape)),
    el("td", { class: "num" }, `${formatNumber(s.min)} … ${formatNumber(s.max)}`),
    el("td", { class: "num" }, formatNumber(s.mean)),
    el("td", { class: "num" }, formatNumber(s.norm)),
    el("td", { class: nf ? "num bad" : "num" }, nf ? String(nf) : "0"),
  ];
}

function summaryTable(
  id: string,
  caption: string,
  rows: Array<{ name: string; value: TensorSummary; grad?: TensorSummary | null }>,
  withGrad: boolean,
): HTMLElement {
  const heads = ["name", "shape", "range", "mean", "norm", "NaN/Inf"];
  if (withGrad) heads.push("grad shape", "grad range", "grad mean", "grad norm", "grad NaN/Inf");
  return el(
    "table",
    { id, class: "cause", "aria-label": caption },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ...heads.map((t) => el("th", { scope: "col" }, t)))),
    el(
      "tbody",
      {},
      ...rows.map((r) =>
        el(
          "tr",
          { "data-name": r.name, class: isNonFinite(r.value) || (r.grad && isNonFinite(r.grad)) ? "bad" : "" },
          el("td", { class: "name" }, r.name),
          ...statCells(r.value),
          ...(withGrad ? statCells(r.grad) : []),
        ),
      ),
    ),
  );
}

/** What flowed into the hit's module (or the incoming gradients) and its parameters: the cause. */
function causeTables(snapshot: Snapshot): HTMLElement | null {
  const hit = snapshot.hit;
  if (!hit) return null;
  const backward = BACKWARD_SITES.has(hit.site);
  const fallback = backward ? "incoming gradient" : "input";
  const inputs = hit.inputs.map((s, i) => ({ name: s.label ?? `${fallback} ${i}`, value: s }));
  const params = (snapshot.hit_params ?? []).map((p) => ({ name: p.name, value: p.summary, grad: p.grad }));
  const module = hit.module || "root";
  return el(
    "div",
    { class: "cause" },
    inputs.length
      ? summaryTable("hit-inputs", backward ? `gradients flowing into ${module}` : `inputs of ${module}`, inputs, false)
      : el("p", { class: "muted" }, `No ${fallback} summaries were recorded for ${module}.`),
    params.length ? summaryTable("hit-params", `parameters of ${module} and their gradients`, params, true) : null,
  );
}

function paramCells(s: ParamStats | null | undefined, span: number): HTMLElement[] {
  if (!s) return [el("td", { class: "muted", colspan: String(span) }, "—")];
  const nf = s.nonfinite ?? 0;
  return [
    el("td", { class: "num" }, `${formatNumber(s.min)} … ${formatNumber(s.max)}`),
    el("td", { class: "num" }, formatNumber(s.mean)),
    el("td", { class: "num" }, formatNumber(s.norm)),
    el("td", { class: nf ? "num bad" : "num" }, s.nonfinite === null ? "?" : String(nf)),
  ];
}

/** The Model tab: every module that holds parameters, its parameters and their gradients, filtered by name. */
function modelTab(tree: ModelTree, state: PanelState, h: Handlers): HTMLElement {
  const search = el("input", {
    id: "model-search",
    type: "search",
    placeholder: "filter by parameter, module or class",
    "aria-label": "filter the model's parameters",
  });
  search.value = state.modelQuery;
  search.addEventListener("input", () => h.dispatch({ type: "modelQuery", query: search.value }));
  const groups = modelGroups(tree, state.modelQuery);
  const heads = ["parameter", "shape", "dtype", "range", "mean", "norm", "NaN/Inf", "grad range", "grad mean", "grad norm", "grad NaN/Inf"];
  const rows: HTMLElement[] = [];
  for (const g of groups) {
    rows.push(
      el(
        "tr",
        { class: "module", "data-module": g.module.path },
        el(
          "td",
          { class: `name depth-${Math.min(g.depth, 8)}`, colspan: String(heads.length) },
          `${g.module.path || tree.root} (${g.module.module_class})`,
        ),
      ),
    );
    for (const p of g.params) {
      const bad = (p.stats?.nonfinite ?? 0) > 0 || (p.grad?.nonfinite ?? 0) > 0;
      const row = el(
        "tr",
        {
          tabindex: "0",
          "data-name": p.name,
          class: [bad ? "bad" : "", state.selected === p.expression ? "selected" : ""].join(" ").trim(),
          title: p.expression,
        },
        el("td", { class: `name depth-${Math.min(g.depth + 1, 8)}` }, p.name.slice(p.module ? p.module.length + 1 : 0)),
        el("td", {}, formatShape(p.shape)),
        el("td", {}, p.dtype),
        ...paramCells(p.stats, 4),
        ...paramCells(p.grad, 4),
      );
      const open = () => {
        h.dispatch({ type: "select", name: p.expression });
        h.post({ type: "selectTensor", name: p.expression, expression: p.expression });
      };
      row.addEventListener("click", open);
      row.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          open();
        }
      });
      rows.push(row);
    }
  }
  const selected = tree.params.find((p) => p.expression === state.selected);
  return el(
    "section",
    { id: "model", role: "tabpanel", "aria-labelledby": "tab-model" },
    el("p", {}, search, " ", el("span", { class: "muted" }, `${tree.root}: ${tree.module_class}, ${tree.modules.length} modules`)),
    groups.length
      ? el(
          "table",
          { id: "model-table", "aria-label": "the model's parameters" },
          el("thead", {}, el("tr", {}, ...heads.map((t) => el("th", { scope: "col" }, t)))),
          el("tbody", {}, ...rows),
          tree.truncated ? el("caption", {}, "more parameters in the model than the snapshot holds") : null,
        )
      : el("p", { class: "muted" }, "No parameter matches."),
    selected
      ? el(
          "section",
          { id: "detail", class: "card", "aria-label": `details of ${selected.expression}` },
          el("h3", {}, selected.expression),
          picturesBlock(state.pictures[`tensor:${selected.expression}`]),
        )
      : null,
  );
}

function layersTab(snapshot: Snapshot, state: PanelState): HTMLElement {
  const rows = layerSiteRows(snapshot.layers);
  if (rows.length === 0)
    return el(
      "section",
      { id: "layers" },
      el("p", { class: "muted" }, "No per-layer data yet: layers are recorded once a tensor breakpoint watches them."),
    );
  const metric = chartMetric(rows);
  const body = rows.map((r) =>
    el(
      "tr",
      { "data-module": r.module, "data-site": r.site, class: r.bad ? "bad" : "" },
      el("td", { class: "name" }, r.bad ? el("span", { class: "badge", title: "non-finite values" }, "!") : null, r.module || "(root)"),
      el("td", {}, r.site),
      el("td", { class: "num" }, String(r.latest.step)),
      el(
        "td",
        {},
        Object.entries(r.latest.stats)
          .map(([k, v]) => `${k} ${formatNumber(v)}`)
          .join(" · "),
      ),
      el("td", { class: "spark", title: metric ? `${metric} over recent steps` : "" }, metric ? trendline(historyValues(r, metric)) : ""),
    ),
  );
  const head = el(
    "tr",
    {},
    ...["module", "site", "step", "latest statistics", metric ? `${metric} history` : "history"].map((t) => el("th", { scope: "col" }, t)),
  );
  return el(
    "section",
    { id: "layers" },
    el("table", { id: "layer-table", "aria-label": "per-layer statistics" }, el("thead", {}, head), el("tbody", {}, ...body)),
    picturesBlock(state.pictures.layers),
  );
}

function tabButton(tab: Tab, label: string, state: PanelState, h: Handlers, tabs: readonly Tab[]): HTMLElement {
  const selected = state.tab === tab;
  const b = el(
    "button",
    { type: "button", role: "tab", id: `tab-${tab}`, "aria-selected": String(selected), tabindex: selected ? "0" : "-1" },
    label,
  );
  b.addEventListener("click", () => {
    h.dispatch({ type: "tab", tab });
    if (tab === "layers") h.post({ type: "showLayers" });
  });
  b.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
      const i = tabs.indexOf(tab) + (ev.key === "ArrowRight" ? 1 : -1);
      const other = tabs[(i + tabs.length) % tabs.length];
      h.dispatch({ type: "tab", tab: other });
      if (other === "layers") h.post({ type: "showLayers" });
      document.getElementById(`tab-${other}`)?.focus();
    }
  });
  return b;
}

/** The whole panel for a state; the caller swaps it in and restores focus. */
export function panel(state: PanelState, h: Handlers): HTMLElement {
  const root = el("main", { id: "panel" });
  if (state.status) root.append(el("p", { id: "status", role: "status" }, state.status));
  const snapshot = state.snapshot;
  if (!snapshot) return root;
  root.append(bannerSection(snapshot, state.session));
  const graph = state.training?.training?.graph;
  const labels: Array<[Tab, string]> = [
    ["tensors", `Tensors (${snapshot.tensors.length})`],
    ["layers", `Layers (${snapshot.layers.length})`],
    ...(snapshot.model ? [["model", `Model (${snapshot.model.params.length} parameters)`] as [Tab, string]] : []),
    ["training", "Training"],
    ["graph", graph ? `Graph (${graph.nodes.length})` : "Graph"],
  ];
  const tabs = labels.map(([t]) => t);
  root.append(el("div", { role: "tablist", "aria-label": "views" }, ...labels.map(([t, label]) => tabButton(t, label, state, h, tabs))));
  if (state.tab === "tensors") {
    root.append(
      el(
        "section",
        { id: "tensors", role: "tabpanel", "aria-labelledby": "tab-tensors" },
        tensorTable(snapshot, state, h),
        detailCard(snapshot, state, h),
      ),
    );
  } else if (state.tab === "model" && snapshot.model) {
    root.append(modelTab(snapshot.model, state, h));
  } else if (state.tab === "training") {
    root.append(trainingTab(state, h));
  } else if (state.tab === "graph") {
    root.append(graphTab(state, snapshot, h));
  } else {
    const section = layersTab(snapshot, state);
    section.setAttribute("role", "tabpanel");
    section.setAttribute("aria-labelledby", "tab-layers");
    root.append(section);
  }
  return root;
}
