/**
 * The Tensor panel's state and the pure functions the page renders from: sorting, the
 * banner text, number formatting. No DOM here, so node tests cover it.
 */
import { statValue } from "../wire/codec";
import {
  isNonFinite,
  nonFiniteCount,
  type FrameTensor,
  type Hit,
  type LayerRow,
  type ModelModule,
  type ModelParam,
  type ModelTree,
  type Snapshot,
  type Training,
} from "../wire/protocol";
import type { GraphLayout } from "../wire/render";
import { pictureKey, type HostMessage, type ImageOptions, type PanelPicture } from "../wire/webviewProtocol";

export const SORT_KEYS = ["name", "shape", "dtype", "min", "max", "mean", "std", "nonfinite"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
/** The body's horizontal padding in CSS pixels (media/panel.css), less from `pageWidth` for the SVG views. */
export const PAGE_PADDING = 18;

export type Tab = "tensors" | "layers" | "model" | "training" | "graph";

/** The stop's training curves and graph: undefined until the host sends them, null when the agent has none. */
export interface TrainingState {
  training: Training | null;
  layout?: GraphLayout;
  error?: string;
}

export interface PanelState {
  snapshot: Snapshot | null;
  session: string;
  status: string;
  sortKey: SortKey;
  descending: boolean;
  selected: string | null;
  tab: Tab;
  modelQuery: string; // the Model tab's filter
  pictures: Record<string, { pictures: PanelPicture[]; error?: string }>;
  training?: TrainingState;
  selectedStep: number | null; // the step clicked in the Training view
  stepLayers: { step: number; layers: LayerRow[]; error?: string } | null;
  graphNode: string | null; // the layer picked: a node clicked in the Graph view, or a layer that moved first before a spike
  pageWidth: number; // CSS pixels, for the SVG views
  imageOptions: Record<string, ImageOptions>; // by tensor name: how an image tensor is shown
}

export const initialState: PanelState = {
  snapshot: null,
  session: "",
  status: "Not paused. Start debugging a PyTorch script; the panel fills in at every stop.",
  sortKey: "nonfinite",
  descending: true,
  selected: null,
  tab: "tensors",
  modelQuery: "",
  pictures: {},
  selectedStep: null,
  stepLayers: null,
  graphNode: null,
  pageWidth: 600,
  imageOptions: {},
};

export type Action =
  | HostMessage
  | { type: "sort"; key: SortKey }
  | { type: "select"; name: string }
  | { type: "tab"; tab: Tab }
  | { type: "modelQuery"; query: string }
  | { type: "selectStep"; step: number }
  | { type: "selectNode"; id: string | null }
  | { type: "pageWidth"; width: number }
  | { type: "setImageOptions"; name: string; options: ImageOptions };

export function reduce(state: PanelState, action: Action): PanelState {
  switch (action.type) {
    case "snapshot": {
      const names = new Set([
        ...action.snapshot.tensors.map((t) => t.name),
        ...(action.snapshot.model?.params ?? []).map((p) => p.expression),
      ]);
      const selected = state.selected !== null && names.has(state.selected) ? state.selected : null;
      return { ...state, snapshot: action.snapshot, session: action.session, status: "", selected, pictures: {}, training: undefined };
    }
    case "status":
      return { ...state, status: action.text };
    case "pictures":
      return { ...state, pictures: { ...state.pictures, [pictureKey(action.target)]: { pictures: action.pictures, error: action.error } } };
    case "focusTensor":
      return { ...state, selected: action.name, tab: "tensors" };
    case "sort":
      return state.sortKey === action.key
        ? { ...state, descending: !state.descending }
        : { ...state, sortKey: action.key, descending: action.key === "nonfinite" };
    case "select": {
      // a fresh click shows the default view, as the host draws it
      const imageOptions = { ...state.imageOptions };
      delete imageOptions[action.name];
      return { ...state, selected: action.name, imageOptions };
    }
    case "tab":
      return { ...state, tab: action.tab };
    case "modelQuery":
      return { ...state, modelQuery: action.query };
    case "training": {
      const training: TrainingState = { training: action.training, layout: action.layout, error: action.error };
      const nodes = new Set((action.training?.graph?.nodes ?? []).map((n) => n.id));
      const graphNode = state.graphNode !== null && nodes.has(state.graphNode) ? state.graphNode : null;
      return { ...state, training, graphNode };
    }
    case "selectStep":
      return { ...state, selectedStep: action.step, stepLayers: state.stepLayers?.step === action.step ? state.stepLayers : null };
    case "stepLayers":
      return action.step === state.selectedStep
        ? { ...state, stepLayers: { step: action.step, layers: action.layers, error: action.error } }
        : state;
    case "selectNode":
      return { ...state, graphNode: action.id };
    case "pageWidth":
      return { ...state, pageWidth: action.width };
    case "setImageOptions":
      return { ...state, imageOptions: { ...state.imageOptions, [action.name]: action.options } };
  }
}

function sortValue(t: FrameTensor, key: SortKey): number | string {
  const s = t.summary;
  switch (key) {
    case "name":
      return t.name;
    case "shape":
      return s.numel;
    case "dtype":
      return s.dtype;
    case "nonfinite":
      return nonFiniteCount(s);
    default: {
      const v = statValue(s[key]);
      return v === null || Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
    }
  }
}

/** The frame's tensors in display order; ties keep the agent's order (stable sort). */
export function sortedTensors(tensors: readonly FrameTensor[], key: SortKey, descending: boolean): FrameTensor[] {
  const sign = descending ? -1 : 1;
  return [...tensors].sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === vb) return 0;
    return (va < vb ? -1 : 1) * sign;
  });
}

export interface Banner {
  title: string;
  facts: Array<[string, string]>;
  bad: boolean;
}

/** Why execution stopped, in words. */
export function banner(hit: Hit | null): Banner {
  if (!hit) return { title: "Paused (not at a tensor breakpoint)", facts: [], bad: false };
  const where = hit.module === "" ? "the root module" : hit.module;
  const facts: Array<[string, string]> = [
    ["module", `${where} (${hit.module_class})`],
    ["site", hit.param ? `${hit.site} (${hit.param})` : hit.site],
    ["step", String(hit.step)],
    ["condition", hit.condition],
    ["where", hit.origin ? "origin: its inputs are finite, its result is not" : "propagated from an earlier layer"],
  ];
  if (hit.note) facts.push(["why", hit.note]);
  if (hit.rank !== undefined && hit.world_size !== undefined && hit.world_size > 1) {
    facts.unshift(["rank", `${hit.rank} of ${hit.world_size}${hit.host ? ` on ${hit.host}` : ""}`]);
    const first = firstBadRank(hit);
    if (first) facts.push(["first bad rank", first]);
  }
  return {
    title: `Tensor breakpoint: ${where} ${hit.site} at step ${hit.step}`,
    facts,
    bad: hit.summary !== null && isNonFinite(hit.summary),
  };
}

/**
 * The job's first bad rank as the stopped rank knew it (the store's `first` record: lowest step,
 * then store order), in words: "this rank (rank 1), step 37, blocks.3.attn output".
 */
export function firstBadRank(hit: Hit): string | null {
  const f = hit.first;
  if (!f || f.rank === undefined || f.step === undefined || f.step === null) return null;
  const who = f.rank === hit.rank ? `this rank (rank ${f.rank})` : `rank ${f.rank}`;
  const where = typeof f.module === "string" ? `, ${f.module === "" ? "the root module" : f.module}` : "";
  const site = f.site ? ` ${f.site}` : "";
  return `${who}, step ${f.step}${where}${site}`;
}

export interface ModelGroup {
  module: ModelModule;
  depth: number; // 0 for the root
  params: ModelParam[];
}

/**
 * The model tree filtered by `query` (case-insensitive, over parameter names, module paths and
 * classes): each module that holds matching parameters, in named_modules() order.
 */
export function modelGroups(tree: ModelTree, query: string): ModelGroup[] {
  const q = query.trim().toLowerCase();
  const byModule = new Map<string, ModelParam[]>();
  for (const p of tree.params) byModule.set(p.module, [...(byModule.get(p.module) ?? []), p]);
  const out: ModelGroup[] = [];
  for (const m of tree.modules) {
    const own = byModule.get(m.path) ?? [];
    const moduleMatches = !q || m.path.toLowerCase().includes(q) || m.module_class.toLowerCase().includes(q);
    const params = moduleMatches ? own : own.filter((p) => p.name.toLowerCase().includes(q));
    if (params.length === 0) continue;
    out.push({ module: m, depth: m.path === "" ? 0 : m.path.split(".").length, params });
  }
  return out;
}
