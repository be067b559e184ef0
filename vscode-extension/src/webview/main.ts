/** The Tensor panel page: keeps the state, renders it, and talks to the extension host. */
import type { HostMessage, RankMessage, StopMarks, WebviewMessage } from "../wire/webviewProtocol";
import { panel } from "./dom";
import { initialState, reduce, type Action, type PanelState } from "./state";

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
let state: PanelState = initialState;
let stoppedAt: number | undefined;
/** When this page's script started (Date.now()), for the first stop's timeline. */
const scriptAt = Date.now();
/** The current stop's timeline: the host's marks and the page's own (see StopMarks). */
let timeline: Record<string, number> = {};

function mark(name: string, at = Date.now()): void {
  if (timeline[name] !== undefined) return;
  timeline[name] = at;
  document.body.dataset.timeline = JSON.stringify(timeline);
}

function addMarks(marks: StopMarks | undefined): void {
  for (const [k, v] of Object.entries(marks ?? {})) if (typeof v === "number") mark(k, v);
}

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
  const again = focused ? document.querySelector<HTMLElement>(focused) : null;
  again?.focus({ preventScroll: true });
  // typing goes on at the end (only text fields have a selection: a number field throws)
  if (again instanceof HTMLInputElement && (again.type === "text" || again.type === "search"))
    again.setSelectionRange(again.value.length, again.value.length);
  recordTimings();
}

/** The stop whose page-drawn chart waits for its frame to be painted (one wait per stop). */
let chartPaintFor: number | undefined;

/**
 * Milliseconds from the debugger's stop to the banner and table, to the first picture on screen
 * (the page's own histogram once a frame has painted it, or a decoded server picture, whichever
 * is first), and to the first decoded server picture, on `document.body.dataset` (the
 * end-to-end tests print them; nothing depends on them).
 */
function recordTimings(): void {
  const at = stoppedAt;
  if (at === undefined) return;
  const data = document.body.dataset;
  if (data.bannerMs === undefined && document.getElementById("banner") && document.getElementById("tensor-table")) {
    data.bannerMs = String(Date.now() - at);
    mark("banner");
  }
  const firstPicture = () => {
    if (stoppedAt === at && data.pictureMs === undefined) {
      data.pictureMs = String(Date.now() - at);
      mark("picture");
    }
  };
  const chart = '#detail svg[data-source="page"]';
  if (data.pictureMs === undefined && chartPaintFor !== at && document.querySelector(chart)) {
    chartPaintFor = at;
    // rAF runs before the frame's layout and paint; a task queued from it runs after them
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (document.querySelector(chart)) firstPicture();
        else if (chartPaintFor === at) chartPaintFor = undefined; // replaced meanwhile: the next render waits again
      }, 0),
    );
  }
  const img = document.querySelector<HTMLImageElement>("#detail img");
  if (img && (data.pictureMs === undefined || data.serverPictureMs === undefined))
    void img.decode().then(
      () => {
        firstPicture();
        if (stoppedAt === at && data.serverPictureMs === undefined) {
          data.serverPictureMs = String(Date.now() - at);
          mark("serverPicture");
        }
      },
      () => undefined, // a picture that does not decode shows as broken; there is no time to record
    );
}

function dispatch(action: Action): void {
  state = reduce(state, action);
  render();
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * The rank picker of a torchrun job, above the panel: which rank's stop is shown, and a select
 * that switches the panel to another rank's session. Hidden outside a job.
 */
function renderRanks(m: RankMessage): void {
  let bar = document.getElementById("ranks");
  if (!bar) {
    bar = document.createElement("nav");
    bar.id = "ranks";
    document.body.prepend(bar);
  }
  bar.replaceChildren();
  bar.hidden = m.ranks.length === 0;
  const shown = m.ranks.find((r) => r.id === m.shown);
  const stopped = m.ranks.filter((r) => r.state === "stopped").map((r) => r.label);
  const label = document.createElement("span");
  label.id = "rank-label";
  const of = m.worldSize ? ` of ${m.worldSize}` : "";
  label.textContent = shown
    ? `${shown.label}${of}: ${shown.state === "stopped" ? "stopped here" : shown.state}${stopped.length && shown.state !== "stopped" ? ` (${stopped.join(", ")} stopped)` : ""}`
    : `${stopped.join(", ") || "no rank"} stopped`;
  const picker = document.createElement("select");
  picker.id = "rank-picker";
  picker.setAttribute("aria-label", "Show the stop of rank");
  for (const r of m.ranks) {
    const option = document.createElement("option");
    option.value = r.id;
    option.textContent = `${r.label} (${r.state})`;
    option.selected = r.id === m.shown;
    option.disabled = r.state === "running" || r.state === "ended";
    picker.append(option);
  }
  picker.addEventListener("change", () => vscode.postMessage({ type: "pickRank", id: picker.value }));
  bar.append(label, " ", picker);
}

window.addEventListener("message", (event: MessageEvent<HostMessage | RankMessage>) => {
  const message = event.data;
  if (!message || typeof message !== "object" || typeof message.type !== "string") return;
  if (message.type === "ranks") {
    renderRanks(message);
    return;
  }
  if (message.type === "snapshot" && message.stoppedAt !== stoppedAt) {
    stoppedAt = message.stoppedAt;
    delete document.body.dataset.bannerMs;
    delete document.body.dataset.pictureMs;
    delete document.body.dataset.serverPictureMs;
    timeline = {};
    addMarks(message.marks);
    // the page itself started during this stop (its view was created for it)
    if (stoppedAt !== undefined && performance.timeOrigin >= stoppedAt) mark("pageLoad", Math.round(performance.timeOrigin));
    if (stoppedAt !== undefined && scriptAt >= stoppedAt) {
      mark("pageScript", scriptAt);
      for (const r of performance.getEntriesByType("resource") as PerformanceResourceTiming[]) {
        const what = r.name.endsWith(".css") ? "style" : r.name.endsWith(".js") ? "script" : undefined;
        if (what) {
          mark(`${what}Asked`, Math.round(performance.timeOrigin + r.startTime));
          mark(`${what}Loaded`, Math.round(performance.timeOrigin + r.responseEnd));
        }
      }
    }
    mark("received");
  } else if (message.type === "pictures" && message.marks) {
    addMarks(message.marks);
    mark("pictureReceived");
  }
  dispatch(message);
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

// the page's width, so the host draws pictures that fit it (debounced: resizing fires often)
let lastWidth = 0;
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
let lastRatio = 0;
function reportWidth(): void {
  const width = document.body.clientWidth;
  const pixelRatio = window.devicePixelRatio || 1;
  if ((width === lastWidth && pixelRatio === lastRatio) || width === 0) return;
  lastWidth = width;
  lastRatio = pixelRatio;
  vscode.postMessage({ type: "viewport", width, pixelRatio });
  if (width !== state.pageWidth) dispatch({ type: "pageWidth", width });
}
// a zoom or a move to another screen changes the ratio without resizing the page
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(reportWidth, 150);
});
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(reportWidth, 150);
}).observe(document.body);
reportWidth();
