/**
 * The Tensor panel on the extension side: a webview view in the Run and Debug side bar and,
 * on request, the same page in an editor tab. It forwards snapshots to the page(s), asks the
 * renderer for pictures, and answers the page's clicks.
 */
import type { Disposable, ExtensionContext, Webview, WebviewPanel, WebviewView, WebviewViewProvider } from "vscode";
import { traceError } from "../platform/log";
import { commands, vscode, window } from "../platform/vscodeapi";
import type { Detail, Snapshot, StepLayers, Training } from "../wire/protocol";
import type { Picture, Renderer, Theme } from "../wire/render";
import { hitTensorName } from "../wire/summaryText";
import {
  pictureKey,
  type HostMessage,
  type ImageOptions,
  type PanelPicture,
  type PictureTarget,
  type StopMarks,
  type WebviewMessage,
} from "../wire/webviewProtocol";
import type { RankEntry, RankMessage } from "../wire/webviewProtocol";
import { panelHtml } from "./panelHtml";
import {
  BATCH_GRID_MAX,
  batchRequest,
  detailRequests,
  histogramRequest,
  layerRequests,
  needsRedraw,
  pictureSize,
  type PictureRequest,
  type PictureSize,
} from "./panelPictures";

export const TENSOR_VIEW_ID = "tensorpeek.tensorView";
/** The view container (in the bottom panel) that holds the Tensors view (package.json). */
const TENSOR_CONTAINER_COMMAND = "workbench.view.extension.tensorpeek";
/** VS Code's Debug Console view, which a session with the internal console shows in the bottom panel. */
const DEBUG_CONSOLE_FOCUS_COMMAND = "workbench.panel.repl.view.focus";
/** The longest the Tensors view stays up for `warm()` when its page never reports its width. */
const WARM_RESTORE_MS = 3000;

/** Where the panel gets a tensor's detail payloads, and the training curves, at the current stop. */
export interface DetailSource {
  detail(expression: string, params?: { batch_index?: number; heatmap_size?: number }): Promise<Detail>;
  /** agent `training` (docs/training-protocol.md); absent where the session cannot ask */
  training?(): Promise<Training>;
  /** agent `step_layers` */
  stepLayers?(step: number): Promise<StepLayers>;
}

export class TensorPanel implements WebviewViewProvider {
  private readonly webviews = new Set<Webview>();
  private theme: Theme | undefined;
  private snapshot: { snapshot: Snapshot; session: string; stoppedAt?: number; marks?: StopMarks } | undefined;
  /** When each page's webview was created and when it said ready (the first stop's timeline). */
  private readonly boot = new Map<Webview, { resolved: number; ready?: number }>();
  private detailSource: DetailSource | undefined;
  private replay: HostMessage[] = [];
  /** The pictures of this stop by target, so they can be drawn again for a new width. */
  private drawn = new Map<string, { target: PictureTarget; requests: PictureRequest[]; error?: string }>();
  /** Each render's number, and by target the newest one posted (an older one finishing later is dropped). */
  private renderSeq = 0;
  private readonly postedSeq = new Map<string, number>();
  private readonly pageWidths = new Map<Webview, number>();
  private pixelRatio = 1;
  private size: PictureSize = pictureSize(520);
  private view: WebviewView | undefined;
  private editorPanel: WebviewPanel | undefined;
  private ranks: RankMessage | undefined;
  private rankPicked: (id: string) => void = () => undefined;
  /** `warm()` brought the view up to create its page; the Debug Console goes back once the page has measured itself. */
  private warming = false;
  private restoreConsole: (() => void) | undefined;

  constructor(
    private readonly context: ExtensionContext,
    private readonly renderer: Renderer,
  ) {}

  resolveWebviewView(view: WebviewView): void {
    this.view = view;
    view.onDidDispose(() => {
      if (this.view === view) this.view = undefined;
    });
    this.attach(view.webview, view);
    if (this.warming) {
      // once the page has reported its width (so the first pictures are drawn to fit) the Debug
      // Console comes back; the page stays alive hidden (retainContextWhenHidden)
      this.warming = false;
      const since = this.snapshot;
      const timer = setTimeout(() => this.restoreConsole?.(), WARM_RESTORE_MS);
      this.restoreConsole = () => {
        clearTimeout(timer);
        this.restoreConsole = undefined;
        if (this.snapshot === since) void commands.executeCommand(DEBUG_CONSOLE_FOCUS_COMMAND, { preserveFocus: true });
      };
    }
  }

  /**
   * Creates the Tensors view's page before the first stop (a session that may hit: it arms
   * tensor breakpoints and writes to the Debug Console), so that stop does not wait for the
   * webview to boot (~0.5-1 s in code-server). The view comes up for a moment without taking
   * focus, and the Debug Console is shown again as soon as the page exists.
   */
  async warm(): Promise<void> {
    if (this.view || this.warming) return;
    this.warming = true;
    try {
      await commands.executeCommand(`${TENSOR_VIEW_ID}.focus`, { preserveFocus: true });
    } catch (err) {
      this.warming = false;
      traceError("could not create the Tensors view ahead of the first stop", err);
    }
  }

  /** "Show Tensor Panel": the editor tab, made once and revealed after that. */
  openInEditor(): void {
    if (this.editorPanel) {
      this.editorPanel.reveal(undefined, true);
      return;
    }
    const panel = window.createWebviewPanel("tensorpeek.tensorPanel", "Tensors", this.webviewOptions());
    this.editorPanel = panel;
    panel.onDidDispose(() => {
      if (this.editorPanel === panel) this.editorPanel = undefined;
    });
    this.attach(panel.webview, panel);
  }

  /** Brings the Tensors view on screen (at a hit) unless the editor tab already is. */
  async reveal(): Promise<void> {
    if (this.editorPanel?.visible || this.view?.visible) return;
    if (this.view) this.view.show(true);
    else await commands.executeCommand(TENSOR_CONTAINER_COMMAND);
  }

  /** A new stop: show its snapshot everywhere, then the hit's histogram. */
  showSnapshot(snapshot: Snapshot, session: string, details: DetailSource, stoppedAt?: number, marks?: StopMarks): void {
    this.snapshot = { snapshot, session, stoppedAt, marks };
    this.detailSource = details;
    this.replay = [];
    this.drawn.clear();
    this.postedSeq.clear();
    this.broadcast({ type: "snapshot", snapshot, session, stoppedAt, marks });
    const hit = snapshot.hit;
    if (hit?.summary) void this.renderTo({ hit: true }, [histogramRequest(hitTensorName(hit), hit.summary)]);
    void this.loadTraining();
  }

  /** The stop's curves and module graph, and the graph's layout from the language server. */
  private async loadTraining(): Promise<void> {
    const stop = this.snapshot;
    const source = this.detailSource;
    if (!source?.training) return;
    let message: HostMessage;
    try {
      const training = await source.training();
      message = { type: "training", training };
      if (training.graph && training.graph.nodes.length > 0) {
        try {
          if (!this.renderer.layoutGraph) throw new Error("this renderer cannot lay graphs out");
          message = { ...message, layout: await this.renderer.layoutGraph(training.graph) };
        } catch (err) {
          traceError("layoutGraph", err);
          message = { ...message, error: `the module graph could not be laid out: ${(err as Error).message}` };
        }
      }
    } catch (err) {
      traceError("training", err);
      message = { type: "training", training: null, error: `no training curves at this stop: ${(err as Error).message}` };
    }
    if (stop !== this.snapshot) return; // a newer stop arrived meanwhile
    this.replay = [...this.replay.filter((m) => m.type !== "training"), message];
    this.broadcast(message);
  }

  /** The layer table of one step, for the page that clicked it. */
  private async loadStepLayers(webview: Webview, step: number): Promise<void> {
    const stop = this.snapshot;
    const source = this.detailSource;
    let message: HostMessage;
    try {
      if (!source?.stepLayers) throw new Error("this debug session cannot ask for a step's layers");
      const answer = await source.stepLayers(step);
      message = { type: "stepLayers", step, layers: answer.layers };
    } catch (err) {
      message = { type: "stepLayers", step, layers: [], error: (err as Error).message };
    }
    if (stop === this.snapshot) void webview.postMessage(message);
  }

  showStatus(text: string): void {
    this.broadcast({ type: "status", text });
  }

  /** The rank picker of a torchrun job (empty: no picker); `shown` is the session whose stop is on screen. */
  showRanks(ranks: RankEntry[], shown: string | undefined, worldSize: number | undefined): void {
    this.ranks = { type: "ranks", ranks, shown, worldSize };
    for (const w of this.webviews) void w.postMessage(this.ranks);
  }

  /** Called with a session id when the user picks a rank in the panel. */
  onRankPicked(listener: (id: string) => void): void {
    this.rankPicked = listener;
  }

  /** "Show in Tensor panel" from the Variables view. */
  focusTensor(name: string): void {
    this.broadcast({ type: "focusTensor", name });
    const tensor = this.snapshot?.snapshot.tensors.find((t) => t.name === name);
    if (tensor) void this.selectTensor(tensor.name, tensor.expression);
  }

  private webviewOptions() {
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.context.extensionUri, "dist"), vscode.Uri.joinPath(this.context.extensionUri, "media")],
      retainContextWhenHidden: true,
    };
  }

  private attach(webview: Webview, owner: { onDidDispose(listener: () => void): Disposable }): void {
    this.boot.set(webview, { resolved: Date.now() });
    webview.options = this.webviewOptions();
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, "dist", "webview.js")).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, "media", "panel.css")).toString(),
    });
    webview.onDidReceiveMessage((m: WebviewMessage) => this.onMessage(webview, m));
    owner.onDidDispose(() => {
      this.webviews.delete(webview);
      this.pageWidths.delete(webview);
      this.boot.delete(webview);
    });
  }

  private onMessage(webview: Webview, message: WebviewMessage): void {
    switch (message.type) {
      case "ready":
        this.theme = message.theme;
        this.webviews.add(webview);
        this.boot.get(webview)!.ready ??= Date.now();
        if (this.snapshot) {
          this.post(webview, { type: "snapshot", ...this.snapshot });
          for (const m of this.replay) this.post(webview, m);
        }
        if (this.ranks) void webview.postMessage(this.ranks);
        return;
      case "pickRank":
        this.rankPicked(message.id);
        return;
      case "selectTensor":
        void this.selectTensor(message.name, message.expression);
        return;
      case "imageOptions":
        void this.selectTensor(message.name, message.expression, message.options);
        return;
      case "showLayers":
        if (this.snapshot) void this.renderTo({ layers: true }, layerRequests(this.snapshot.snapshot.layers));
        return;
      case "stepLayers":
        void this.loadStepLayers(webview, message.step);
        return;
      case "viewport":
        this.pageWidths.set(webview, message.width);
        if (message.pixelRatio !== undefined) this.pixelRatio = Math.min(4, Math.max(1, message.pixelRatio));
        this.resize();
        if (webview === this.view?.webview) this.restoreConsole?.();
        return;
    }
  }

  /** Pictures are drawn for the widest page showing them (a narrower one scales them down). */
  private resize(): void {
    const wanted = pictureSize(Math.max(...this.pageWidths.values()), this.pixelRatio);
    if (!needsRedraw(this.size, wanted)) return;
    this.size = wanted;
    for (const d of [...this.drawn.values()]) void this.renderTo(d.target, d.requests, d.error);
  }

  private async selectTensor(name: string, expression: string, options?: ImageOptions): Promise<void> {
    const snapshot = this.snapshot?.snapshot;
    const tensor = snapshot?.tensors.find((t) => t.name === name);
    const param = snapshot?.model?.params.find((p) => p.expression === expression);
    if (!tensor && !param) return;
    const source = this.detailSource;
    let detail: Detail | undefined;
    let error: string | undefined;
    try {
      detail = await source?.detail(expression, options?.batchIndex ? { batch_index: options.batchIndex } : undefined);
    } catch (err) {
      error = `detail unavailable (${(err as Error).message}); showing the snapshot's histogram`;
      traceError(`detail of ${name}`, err);
    }
    const requests = detailRequests(name, detail, tensor?.summary, options?.normalize);
    const shape = tensor?.summary.shape ?? [];
    if (options?.grid && source && detail?.channels && shape.length === 4) {
      // one small `detail` per image: the agent sends one image's tiles at a time
      const details: Detail[] = [];
      try {
        for (let i = 0; i < Math.min(shape[0], BATCH_GRID_MAX); i++)
          details.push(await source.detail(expression, { batch_index: i, heatmap_size: 32 }));
      } catch (err) {
        error = `the batch grid stopped at image ${details.length}: ${(err as Error).message}`;
      }
      const grid = batchRequest(name, shape, details, options.normalize);
      if (grid) requests.push(grid);
    }
    await this.renderTo({ tensor: name }, requests, error);
  }

  private async renderTo(target: PictureTarget, requests: PictureRequest[], error?: string): Promise<void> {
    const stop = this.snapshot;
    const key = pictureKey(target);
    this.drawn.set(key, { target, requests, error });
    const seq = ++this.renderSeq;
    const size = this.size;
    const marks: StopMarks | undefined = "hit" in target && stop?.marks ? { pictureAsked: Date.now() } : undefined;
    const pictures: PanelPicture[] = [];
    const errors: string[] = error ? [error] : [];
    for (const r of requests) {
      try {
        const picture = await this.renderer.render(r.kind, r.payload, this.theme, size);
        pictures.push({ kind: r.kind, title: r.title, ...asBase64(picture), ...(picture.hover ? { hover: picture.hover } : {}) });
      } catch (err) {
        errors.push(`${r.title}: ${(err as Error).message}`);
      }
    }
    if (stop !== this.snapshot) return; // a newer stop arrived while rendering
    // drawn again for a new width meanwhile: this one is still shown until that redraw arrives
    // (the page scales it), unless other pictures were asked for since or a newer one is shown
    if (size !== this.size && this.drawn.get(key)?.requests !== requests) return;
    if ((this.postedSeq.get(key) ?? 0) > seq) return;
    this.postedSeq.set(key, seq);
    if (marks) marks.pictureReplied = Date.now();
    const message: HostMessage = {
      type: "pictures",
      target,
      pictures,
      ...(errors.length ? { error: errors.join("; ") } : {}),
      ...(marks ? { marks } : {}),
    };
    this.replay = [...this.replay.filter((m) => m.type !== "pictures" || pictureKey(m.target) !== key), message];
    this.broadcast(message);
  }

  private broadcast(message: HostMessage): void {
    for (const w of this.webviews) this.post(w, message);
  }

  /** Posts `message` to one page, stamping a snapshot's or a picture's timeline with the moment it left. */
  private post(webview: Webview, message: HostMessage): void {
    const now = Date.now();
    if (message.type === "snapshot" && message.marks) {
      const boot = this.boot.get(webview);
      const stopped = message.marks.stopped ?? now;
      const during = (t: number | undefined) => (t !== undefined && t >= stopped ? t : undefined);
      message = { ...message, marks: { ...message.marks, resolved: during(boot?.resolved), ready: during(boot?.ready), posted: now } };
    } else if (message.type === "pictures" && message.marks) {
      message = { ...message, marks: { ...message.marks, picturePosted: now } };
    }
    void webview.postMessage(message);
  }
}

function asBase64(p: Picture): Pick<PanelPicture, "mime" | "data"> {
  return { mime: p.mime, data: p.mime === "image/svg+xml" ? Buffer.from(p.data, "utf8").toString("base64") : p.data };
}
