/** The extension's one log channel; nothing else writes logs (no console.log). */
import type { LogOutputChannel } from "vscode";

let channel: LogOutputChannel | undefined;

export function setLogChannel(ch: LogOutputChannel): void {
  channel = ch;
}

export function traceInfo(message: string): void {
  channel?.info(message);
}

export function traceWarn(message: string): void {
  channel?.warn(message);
}

export function traceError(message: string, err?: unknown): void {
  const detail = err instanceof Error ? `: ${err.message}` : err === undefined ? "" : `: ${String(err)}`;
  channel?.error(`${message}${detail}`);
}
