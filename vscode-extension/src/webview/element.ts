/**
 * The one way the panel page makes HTML elements: attributes set as values and children
 * appended as text nodes, so a string from the debuggee is never parsed as HTML.
 */
import type { WebviewMessage } from "../wire/webviewProtocol";
import type { Action } from "./state";

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

export interface Handlers {
  dispatch(action: Action): void;
  post(message: WebviewMessage): void;
}
