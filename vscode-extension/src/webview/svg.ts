/**
 * SVG built with DOM calls (`createElementNS`), never from markup: labels from the debuggee
 * are text nodes, so a module named `<script>` is drawn as those characters.
 */
const SVG_NS = "http://www.w3.org/2000/svg";

type SvgChild = SVGElement | string | null | undefined | false;

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: SvgChild[]
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

/** A `<title>` child: the browser's own tooltip, also read by screen readers. */
export function tooltip(text: string): SVGTitleElement {
  return svg("title", {}, text);
}

/** A path through the points, broken where a point is missing (null: not finite). */
export function pathData(points: ReadonlyArray<readonly [number, number] | null>): string {
  let d = "";
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
    pen = true;
  }
  return d;
}
