/**
 * The Tensor panel's state and the pure functions the page renders from: sorting, the
 * banner text, number formatting. No DOM here, so node tests cover it.
 */
import { statValue } from "../wire/codec";
import { isNonFinite, nonFiniteCount, type FrameTensor, type Hit, type Snapshot } from "../wire/protocol";
import { pictureKey, type HostMessage, type PanelPicture } from "../wire/webviewProtocol";

export const SORT_KEYS = ["name", "shape", "dtype", "min", "max", "mean", "std", "nonfinite"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type Tab = "tensors" | "layers";

export interface PanelState {
  snapshot: Snapshot | null;
  session: string;
  status: string;
  sortKey: SortKey;
  descending: boolean;
  selected: string | null;
  tab: Tab;
  pictures: Record<string, { pictures: PanelPicture[]; error?: string }>;
}

export const initialState: PanelState = {
  snapshot: null,
  session: "",
  status: "Not paused. Start debugging a PyTorch script; the panel fills in at every stop.",
  sortKey: "nonfinite",
  descending: true,
  selected: null,
  tab: "tensors",
  pictures: {},
};

export type Action = HostMessage | { type: "sort"; key: SortKey } | { type: "select"; name: string } | { type: "tab"; tab: Tab };

export function reduce(state: PanelState, action: Action): PanelState {
  switch (action.type) {
    case "snapshot": {
      const names = new Set(action.snapshot.tensors.map((t) => t.name));
      const selected = state.selected !== null && names.has(state.selected) ? state.selected : null;
      return { ...state, snapshot: action.snapshot, session: action.session, status: "", selected, pictures: {} };
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
    case "select":
      return { ...state, selected: action.name };
    case "tab":
      return { ...state, tab: action.tab };
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
  return {
    title: `Tensor breakpoint: ${where} ${hit.site} at step ${hit.step}`,
    facts,
    bad: hit.summary !== null && isNonFinite(hit.summary),
  };
}
