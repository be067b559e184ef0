/** The Tensor panel page: keeps the state, renders it, and talks to the extension host. */
import type { HostMessage, WebviewMessage } from "../wire/webviewProtocol";
import { panel } from "./dom";
import { initialState, reduce, type Action, type PanelState } from "./state";

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
let state: PanelState = initialState;

function focusKey(node: Element | null): string | null {
  if (!(node instanceof HTMLElement) || node === document.body) return null;
  for (const attr of ["id", "data-name", "data-sort"]) {
    const v = node.getAttribute(attr);
    if (v !== null) return `[${attr}="${CSS.escape(v)}"]`;
  }
  return null;
}

function render(): void {
  const focused = focusKey(document.activeElement);
  const next = panel(state, { dispatch, post: (m) => vscode.postMessage(m) });
  document.getElementById("panel")?.replaceWith(next);
  if (focused) (document.querySelector(focused) as HTMLElement | null)?.focus({ preventScroll: true });
}

function dispatch(action: Action): void {
  state = reduce(state, action);
  render();
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

window.addEventListener("message", (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  if (message && typeof message === "object" && typeof message.type === "string") dispatch(message);
});

render();
vscode.postMessage({
  type: "ready",
  theme: {
    foreground: cssVar("--vscode-editor-foreground", "#cccccc"),
    background: cssVar("--vscode-editor-background", "#1e1e1e"),
    accent: cssVar("--vscode-focusBorder", "#3794ff"),
    fontSize: Number.parseFloat(cssVar("--vscode-editor-font-size", "12")) || 12,
  },
});
