/**
 * The `tensorpeek/render` request to the language server: the theme a picture is drawn in,
 * the picture that comes back, and the `Renderer` the panel and the hover depend on (never
 * the language client itself).
 */
import { literal, object, str } from "./codec";
import type { RenderKind } from "./protocol";

export interface Theme {
  foreground: string;
  background: string;
  accent: string;
  fontSize: number;
}

export interface Picture {
  mime: "image/svg+xml" | "image/png";
  data: string;
}

export const pictureCodec = object({ mime: literal("image/svg+xml", "image/png"), data: str });

export interface Renderer {
  render(kind: RenderKind, payload: unknown, theme: Theme | undefined, size?: { width: number; height: number }): Promise<Picture>;
}
