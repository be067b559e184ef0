/** The messages between the extension host and the Tensor panel's page (both directions). */
import type { LayerRow, RenderKind, Snapshot, Training } from "./protocol";
import type { GraphLayout, PictureHover, Theme } from "./render";

export interface PanelPicture {
  kind: RenderKind;
  title: string;
  mime: "image/svg+xml" | "image/png";
  data: string;
  hover?: PictureHover; // what lies under the pointer (a histogram's bins, an image's pixels)
}

/** How an image tensor (C×H×W, N×C×H×W) is shown in its detail card. */
export interface ImageOptions {
  batchIndex: number;
  normalize: "image" | "channel"; // the RGB composite scaled by the joint range, or each channel by its own
  grid: boolean; // also a grid of the first images of the batch
}

/**
 * Where the time of one stop goes (Date.now() values: the extension host and the page run on
 * one machine's clock). The host's marks travel with the snapshot and the pictures; the page
 * adds its own and keeps the whole on `document.body.dataset.timeline` (the end-to-end test
 * prints the legs; nothing depends on them).
 */
export interface StopMarks {
  stopped?: number; // the debugger's stopped event
  pushed?: number; // the snapshot the debuggee sent ahead of the stop, decoded (no evaluate asked)
  stackTrace?: number; // the top frame known (our own stackTrace answer)
  reveal?: number; // the Tensors view asked to come on screen
  asked?: number; // the snapshot evaluate sent
  replied?: number; // its answer decoded
  resolved?: number; // the Tensors view's webview created (when that happened during this stop)
  ready?: number; // its page said ready (idem)
  posted?: number; // the snapshot posted to this page
  pictureAsked?: number; // the hit's histogram asked of the language server
  pictureReplied?: number; // its answer
  picturePosted?: number; // posted to the page
}

/** The target of pictures: a tensor's name in the frame, the hit tensor, or the Layers tab. */
export type PictureTarget = { tensor: string } | { hit: true } | { layers: true };

export type HostMessage =
  // stoppedAt: Date.now() when the debugger reported the stop (the page times itself from it)
  | { type: "snapshot"; snapshot: Snapshot; session: string; stoppedAt?: number; marks?: StopMarks }
  | { type: "status"; text: string }
  | { type: "pictures"; target: PictureTarget; pictures: PanelPicture[]; error?: string; marks?: StopMarks }
  | { type: "focusTensor"; name: string }
  // the stop's curves and module graph (agent `training`) with the graph's layout (server `tensorpeek/layoutGraph`)
  | { type: "training"; training: Training | null; layout?: GraphLayout; error?: string }
  // the layer table recorded at one step (agent `step_layers`), answering the page's `stepLayers`
  | { type: "stepLayers"; step: number; layers: LayerRow[]; error?: string };

/** One rank's session in the panel's rank picker (a torchrun job, issue 15). */
export interface RankEntry {
  id: string; // the debug session's id
  label: string; // "rank 1"
  state: "stopped" | "paused" | "running" | "ended"; // stopped: on its own (the hit); paused: for a sibling
}

/** The rank picker: the job's ranks and the one whose stop the panel shows (empty outside a job). */
export type RankMessage = { type: "ranks"; ranks: RankEntry[]; shown?: string; worldSize?: number };

export type WebviewMessage =
  | { type: "pickRank"; id: string }
  | { type: "ready"; theme: Theme }
  | { type: "selectTensor"; name: string; expression: string }
  | { type: "showLayers" }
  | { type: "stepLayers"; step: number }
  // an image tensor's view: which image of the batch, the RGB range, and the grid of the batch
  | { type: "imageOptions"; name: string; expression: string; options: ImageOptions }
  // the page's content width in CSS pixels and its device pixel ratio, on load and whenever
  // either changes: pictures are drawn to fit, with as many pixels as the screen shows
  | { type: "viewport"; width: number; pixelRatio?: number };

export function pictureKey(target: PictureTarget): string {
  if ("tensor" in target) return `tensor:${target.tensor}`;
  if ("hit" in target) return "hit";
  return "layers";
}
