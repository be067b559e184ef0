/** The messages between the extension host and the Tensor panel's page (both directions). */
import type { RenderKind, Snapshot } from "./protocol";
import type { Theme } from "./render";

export interface PanelPicture {
  kind: RenderKind;
  title: string;
  mime: "image/svg+xml" | "image/png";
  data: string;
}

/** The target of pictures: a tensor's name in the frame, the hit tensor, or the Layers tab. */
export type PictureTarget = { tensor: string } | { hit: true } | { layers: true };

export type HostMessage =
  // stoppedAt: Date.now() when the debugger reported the stop (the page times itself from it)
  | { type: "snapshot"; snapshot: Snapshot; session: string; stoppedAt?: number }
  | { type: "status"; text: string }
  | { type: "pictures"; target: PictureTarget; pictures: PanelPicture[]; error?: string }
  | { type: "focusTensor"; name: string };

export type WebviewMessage =
  | { type: "ready"; theme: Theme }
  | { type: "selectTensor"; name: string; expression: string }
  | { type: "showLayers" }
  // the page's content width in CSS pixels, on load and whenever it changes: pictures are drawn to fit
  | { type: "viewport"; width: number };

export function pictureKey(target: PictureTarget): string {
  if ("tensor" in target) return `tensor:${target.tensor}`;
  if ("hit" in target) return "hit";
  return "layers";
}
