/**
 * The controls above an image tensor's pictures (C×H×W or N×C×H×W with 1, 3 or 4 channels):
 * which image of the batch, how the RGB composite is scaled, and a grid of the batch. A change
 * asks the host to draw the pictures again (`imageOptions`).
 */
import type { FrameTensor } from "../wire/protocol";
import type { ImageOptions } from "../wire/webviewProtocol";
import { el, type Handlers } from "./element";
import type { PanelState } from "./state";

const IMAGE_CHANNELS = new Set([1, 3, 4]);

/** The batch size of an image tensor (1 for C×H×W), or null when it is not image-like. */
export function imageBatch(shape: readonly number[]): number | null {
  if (shape.length === 3 && IMAGE_CHANNELS.has(shape[0])) return 1;
  if (shape.length === 4 && IMAGE_CHANNELS.has(shape[1])) return shape[0];
  return null;
}

export const DEFAULT_IMAGE_OPTIONS: ImageOptions = { batchIndex: 0, normalize: "image", grid: false };

export function imageControls(t: FrameTensor, state: PanelState, h: Handlers): HTMLElement | null {
  const n = imageBatch(t.summary.shape);
  if (n === null) return null;
  const options = state.imageOptions[t.name] ?? DEFAULT_IMAGE_OPTIONS;
  const change = (next: Partial<ImageOptions>) => {
    const merged = { ...options, ...next };
    h.post({ type: "imageOptions", name: t.name, expression: t.expression, options: merged });
    h.dispatch({ type: "setImageOptions", name: t.name, options: merged });
  };
  const normalize = el(
    "select",
    { id: "image-normalize", "aria-label": "how the RGB image is scaled" },
    el("option", { value: "image" }, "RGB: joint range of the three channels"),
    el("option", { value: "channel" }, "RGB: each channel by its own range"),
  );
  normalize.value = options.normalize;
  normalize.addEventListener("change", () => change({ normalize: normalize.value === "channel" ? "channel" : "image" }));
  const parts: Array<HTMLElement | string> = [normalize];
  if (n > 1) {
    const index = el("input", {
      id: "image-index",
      type: "number",
      min: "0",
      max: String(n - 1),
      step: "1",
      "aria-label": `which image of the batch of ${n}`,
    });
    index.value = String(options.batchIndex);
    index.addEventListener("change", () => {
      const v = Math.trunc(Number(index.value));
      if (Number.isFinite(v) && v >= 0 && v < n && v !== options.batchIndex) change({ batchIndex: v });
      else index.value = String(options.batchIndex);
    });
    const grid = el("input", { id: "image-grid", type: "checkbox" });
    grid.checked = options.grid;
    grid.addEventListener("change", () => change({ grid: grid.checked }));
    parts.push(" ", el("label", {}, "image ", index, ` of ${n}`), " ", el("label", {}, grid, " grid of the batch"));
  }
  return el("p", { class: "image-controls" }, ...parts);
}
