/**
 * The tensorpeek language server (`python -m tensorpeek.server`, stdio) through
 * vscode-languageclient: code lenses and inline values come from it directly; pictures are
 * asked for with the custom request `tensorpeek/render`. This file is the only user of the
 * language client.
 */
import { execFile } from "node:child_process";
import type { LogOutputChannel } from "vscode";
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";
import { traceError, traceInfo } from "../platform/log";
import type { ModuleGraph, RenderKind } from "../wire/protocol";
import {
  graphLayoutCodec,
  pictureCodec,
  type GraphLayout,
  type Picture,
  type PictureSize,
  type Renderer,
  type Theme,
} from "../wire/render";
import { missingTensorpeekMessage, SERVER_DEBUG_PORT_ENV, serverArgs } from "./serverCommand";

/** Checks that `python` can import the server module; resolves to an error text or undefined. */
export function checkTensorpeekImport(python: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(python, ["-c", "import tensorpeek.server"], { timeout: 30_000 }, (err, _stdout, stderr) => {
      resolve(err ? missingTensorpeekMessage(python, stderr || err.message) : undefined);
    });
  });
}

export class TensorpeekLanguageServer implements Renderer {
  private client: LanguageClient | undefined;
  private unavailable = "the tensorpeek language server has not started yet";

  /** Why pictures cannot be rendered (shown where a picture would be). */
  markUnavailable(reason: string): void {
    this.unavailable = reason;
  }

  async start(python: string, channel: LogOutputChannel): Promise<void> {
    const args = serverArgs(process.env[SERVER_DEBUG_PORT_ENV]);
    const serverOptions: ServerOptions = { command: python, args, transport: TransportKind.stdio };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", language: "python" }],
      outputChannel: channel,
    };
    this.client = new LanguageClient("tensorpeek", "tensorpeek language server", serverOptions, clientOptions);
    traceInfo(`starting language server: ${python} ${args.join(" ")}`);
    await this.client.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.stop();
  }

  async render(
    kind: RenderKind,
    payload: unknown,
    theme: Theme | undefined,
    size: PictureSize = { width: 480, height: 300 },
  ): Promise<Picture> {
    if (!this.client) throw new Error(this.unavailable);
    try {
      const reply = await this.client.sendRequest("tensorpeek/render", { kind, payload, format: "svg", theme, ...size });
      return pictureCodec.decode(reply, "tensorpeek/render");
    } catch (err) {
      traceError(`render ${kind} failed`, err);
      throw err;
    }
  }

  /** `tensorpeek/layoutGraph`: the module graph's layered layout (docs/training-protocol.md). */
  async layoutGraph(graph: ModuleGraph): Promise<GraphLayout> {
    if (!this.client) throw new Error(this.unavailable);
    const reply = await this.client.sendRequest("tensorpeek/layoutGraph", { graph });
    return graphLayoutCodec.decode(reply, "tensorpeek/layoutGraph");
  }
}
