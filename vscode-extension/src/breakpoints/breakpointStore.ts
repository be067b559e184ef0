/**
 * The tensor breakpoints of this workspace: kept in workspace state (so they survive
 * reloads), mirrored to the JSON file named by `TENSORPEEK_BREAKPOINTS` (the agent re-reads it
 * when it changes, so running sessions follow edits), and announced to listeners.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import * as path from "node:path";
import type { Memento } from "vscode";
import { traceError, traceInfo } from "../platform/log";
import { breakpointFileText, storedListCodec, type SpecParts, type StoredBreakpoint } from "../wire/breakpointSpecs";
import { addBreakpoint, removeBreakpoint, setEnabled } from "./breakpointList";

const STATE_KEY = "tensorpeek.breakpoints";

export class BreakpointStore {
  private list: StoredBreakpoint[];
  private readonly listeners: Array<(list: readonly StoredBreakpoint[]) => void> = [];
  private readonly hitListeners: Array<() => void> = [];
  private hitCountById = new Map<string, number>();

  constructor(
    private readonly state: Memento,
    readonly filePath: string,
  ) {
    try {
      this.list = storedListCodec.decode(state.get(STATE_KEY, []));
    } catch (err) {
      traceError("ignoring unreadable stored tensor breakpoints", err);
      this.list = [];
    }
  }

  all(): readonly StoredBreakpoint[] {
    return this.list;
  }

  hitCount(id: string): number | undefined {
    return this.hitCountById.get(id);
  }

  /** New counts from the agent. Only the view follows them: the list itself did not change,
   * so nothing is re-armed (re-arming would start every count again from zero). */
  setHitCounts(counts: Map<string, number>): void {
    this.hitCountById = counts;
    for (const l of this.hitListeners) l();
  }

  /** Breakpoints were added, removed, enabled or disabled. */
  onDidChange(listener: (list: readonly StoredBreakpoint[]) => void): void {
    this.listeners.push(listener);
  }

  onDidChangeHitCounts(listener: () => void): void {
    this.hitListeners.push(listener);
  }

  async add(spec: SpecParts): Promise<void> {
    const id = `bp-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
    await this.replace(addBreakpoint(this.list, spec, id));
  }

  async remove(id: string): Promise<void> {
    await this.replace(removeBreakpoint(this.list, id));
  }

  async setEnabled(id: string, enabled: boolean): Promise<void> {
    await this.replace(setEnabled(this.list, id, enabled));
  }

  /** Writes the file the debuggee reads; atomically, so the agent never sees half a file. */
  async writeFile(): Promise<string> {
    await mkdir(path.dirname(this.filePath), { recursive: true });
    const tmp = `${this.filePath}.${process.pid}.tmp`;
    await writeFile(tmp, breakpointFileText(this.list), "utf8");
    await rename(tmp, this.filePath);
    return this.filePath;
  }

  private async replace(next: StoredBreakpoint[]): Promise<void> {
    this.list = next;
    await this.state.update(STATE_KEY, next);
    await this.writeFile();
    traceInfo(
      `tensor breakpoints: ${next.map((b) => `${b.target}:${b.site}:${b.condition}${b.enabled ? "" : " (disabled)"}`).join(", ") || "none"}`,
    );
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l(this.list);
  }
}
