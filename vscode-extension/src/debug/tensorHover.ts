/**
 * Alt-hover on a tensor name while paused (VS Code shows its debug hover otherwise): the
 * summary line and the histogram picture, from the current stop's snapshot.
 */
import type { CancellationToken, Hover, HoverProvider, Position, TextDocument } from "vscode";
import { histogramRequest } from "../panel/panelPictures";
import { traceError } from "../platform/log";
import { vscode } from "../platform/vscodeapi";
import type { Renderer, Theme } from "../wire/render";
import { hoverLine } from "../wire/summaryText";
import type { DebugSessions } from "./debugSessions";

const HOVER_THEME: Theme = { foreground: "#888888", background: "#00000000", accent: "#3794ff", fontSize: 11 };

export class TensorHover implements HoverProvider {
  constructor(
    private readonly sessions: DebugSessions,
    private readonly renderer: Renderer,
  ) {}

  async provideHover(document: TextDocument, position: Position, _token: CancellationToken): Promise<Hover | undefined> {
    const snapshot = this.sessions.current()?.snapshot;
    const range = document.getWordRangeAtPosition(position, /[A-Za-z_][A-Za-z0-9_.]*/);
    if (!snapshot || !range) return undefined;
    const word = document.getText(range);
    const tensor = snapshot.tensors.find((t) => t.name === word || t.expression === word);
    if (!tensor) return undefined;
    const md = new vscode.MarkdownString();
    md.appendCodeblock(hoverLine(tensor), "text");
    try {
      const r = histogramRequest(tensor.name, tensor.summary);
      const picture = await this.renderer.render(r.kind, r.payload, HOVER_THEME, { width: 360, height: 180 });
      const data = picture.mime === "image/svg+xml" ? Buffer.from(picture.data, "utf8").toString("base64") : picture.data;
      md.appendMarkdown(`![histogram of the tensor](data:${picture.mime};base64,${data})`);
    } catch (err) {
      traceError("hover picture", err);
    }
    return new vscode.Hover(md, range);
  }
}
