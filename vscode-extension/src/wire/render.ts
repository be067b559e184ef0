/**
 * The `tensorpeek/render` request to the language server: the theme a picture is drawn in,
 * the picture that comes back, and the `Renderer` the panel and the hover depend on (never
 * the language client itself).
 */
import { array, bool, DecodeError, int, literal, nullable, num, object, record, str, type Codec } from "./codec";
import type { ModuleGraph, RenderKind } from "./protocol";

export interface Theme {
  foreground: string;
  background: string;
  accent: string;
  fontSize: number;
}

/**
 * A histogram's hover map (`render/hover.py`): the data area of its bins' axes as [left, top,
 * right, bottom] fractions of the picture from its top-left corner, the value range across
 * it, and the bins as drawn. The page turns a pointer position into a bin with it.
 */
export const binsHoverCodec = object({
  kind: literal("bins"),
  plot: array(num),
  xlim: array(num),
  edges: array(num),
  counts: array(num),
});
export type BinsHover = ReturnType<typeof binsHoverCodec.decode>;

const cellGridsCodec = record(array(array(nullable(num))));

/**
 * A channels picture's hover map: each tile's image area, the channels it shows (the RGB
 * composite three), its cells, and the values drawn in each cell by channel (block means
 * when the image was reduced to fit; null where a block holds no finite value). In a grid of
 * the batch each tile is another image: it carries its own `batch_index` and `grids`.
 */
export const pixelsHoverCodec = object({
  kind: literal("pixels"),
  name: str,
  shape: array(int),
  batch_index: int,
  batched: bool,
  tiles: array(
    object({ plot: array(num), channels: array(str), rows: int, cols: int, batch_index: int, grids: cellGridsCodec }, [
      "batch_index",
      "grids",
    ]),
  ),
  grids: cellGridsCodec,
});
export type PixelsHover = ReturnType<typeof pixelsHoverCodec.decode>;

export type PictureHover = BinsHover | PixelsHover;

const pictureHoverCodec: Codec<PictureHover> = {
  describe: { kind: "unknown" },
  decode(value, path = "") {
    const kind = (value as { kind?: unknown } | null)?.kind;
    if (kind === "bins") return binsHoverCodec.decode(value, path);
    if (kind === "pixels") return pixelsHoverCodec.decode(value, path);
    throw new DecodeError(`${path}.kind`, `expected "bins" or "pixels", got ${JSON.stringify(kind)}`);
  },
};

export const pictureCodec = object({ mime: literal("image/svg+xml", "image/png"), data: str, hover: pictureHoverCodec }, ["hover"]);
export type Picture = ReturnType<typeof pictureCodec.decode>;

/** Picture size in CSS pixels and the screen's device pixel ratio (raster parts get that many more pixels). */
export interface PictureSize {
  width: number;
  height: number;
  pixelRatio?: number;
}

/**
 * The size pictures are drawn at for a page `pageWidth` CSS pixels wide (its width less the
 * padding) on a screen of `pixelRatio` device pixels per CSS pixel (1 to 3, to a tenth). The
 * host asks the language server for this size and the page draws its own hit histogram at it.
 */
export function pictureSize(pageWidth: number, pixelRatio = 1): Required<PictureSize> {
  const width = Math.round(Math.min(2400, Math.max(320, pageWidth - 40)));
  const ratio = Math.round(Math.min(3, Math.max(1, Number.isFinite(pixelRatio) ? pixelRatio : 1)) * 10) / 10;
  return { width, height: Math.round(Math.min(420, Math.max(240, width * 0.3))), pixelRatio: ratio };
}

/** `tensorpeek/layoutGraph`: node boxes (x, y their top-left corner) and edge polylines, in layout units. */
export const graphLayoutCodec = object({
  width: num,
  height: num,
  nodes: array(object({ id: str, x: num, y: num, w: num, h: num })),
  edges: array(object({ source: str, target: str, points: array(array(num)) })),
});
export type GraphLayout = ReturnType<typeof graphLayoutCodec.decode>;

export interface Renderer {
  render(kind: RenderKind, payload: unknown, theme: Theme | undefined, size?: PictureSize): Promise<Picture>;
  /** The module graph's layered layout (absent where the server cannot lay graphs out). */
  layoutGraph?(graph: ModuleGraph): Promise<GraphLayout>;
}
