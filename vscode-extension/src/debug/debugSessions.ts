/**
 * Follows Python debug sessions: a `DebugAdapterTracker` sees every `stopped` event, the
 * focused frame comes from `vscode.debug.activeStackItem`, and each stop gets exactly one
 * snapshot request. At a tensor-breakpoint hit it brings the Tensors view on screen and opens
 * the user's own line the hit came from (the stopped frame is tensorpeek's pause frame, whose
 * locals `hit`, `tensor` and `module` stay in the Variables view). Also the way the rest of the
 * extension reaches the agent while paused (modules, detail, live breakpoint updates).
 */
import * as path from "node:path";
import type { DebugAdapterTracker, DebugAdapterTrackerFactory, DebugSession, Disposable } from "vscode";
import { hitCounts } from "../breakpoints/breakpointList";
import type { BreakpointStore } from "../breakpoints/breakpointStore";
import type { TensorPanel } from "../panel/tensorPanel";
import { traceError, traceInfo } from "../platform/log";
import { debug, window } from "../platform/vscodeapi";
import { AgentError, AgentProxy } from "../wire/agentProxy";
import { agentSpecs, type SpecParts } from "../wire/breakpointSpecs";
import {
  detailCodec,
  modulesResultCodec,
  setBreakpointsResultCodec,
  snapshotCodec,
  stepLayersCodec,
  trainingCodec,
  type Detail,
  type Snapshot,
  type SourceLine,
} from "../wire/protocol";

/** The file of tensorpeek's pause frame (`tensorpeek/engine/pause.py`), which VS Code opens at a hit. */
const PAUSE_FRAME_FILE = "tensor_breakpoint.py";
/** How long after a hit VS Code's own opening of the pause frame's file is undone. */
const REOPEN_WINDOW_MS = 3000;

const RESUMING = new Set(["continue", "next", "stepIn", "stepOut", "stepBack", "reverseContinue", "goto", "restartFrame"]);

interface Paused {
  session: DebugSession;
  proxy: AgentProxy;
  frameId: number | undefined;
  threadId: number | undefined;
  stoppedAt: number; // Date.now() at the stopped event
  staleFocus: string | undefined; // the frame VS Code had focused before this stop
  snapshot?: Snapshot;
}

export class DebugSessions implements DebugAdapterTrackerFactory {
  private paused: Paused | undefined;
  private stopEpoch = 0;
  private revealedEpoch = -1;

  constructor(
    private readonly panel: TensorPanel,
    private readonly store: BreakpointStore,
  ) {
    store.onDidChange(() => void this.pushBreakpoints());
  }

  register(): Disposable[] {
    return [
      debug.onDidChangeActiveStackItem(() => void this.onFocusChanged()),
      debug.onDidTerminateDebugSession((s) => {
        if (this.paused?.session.id !== s.id) return;
        this.paused = undefined;
        this.panel.showStatus(`'${s.name}' ended; the panel shows its last stop.`);
      }),
    ];
  }

  createDebugAdapterTracker(session: DebugSession): DebugAdapterTracker {
    return {
      onWillReceiveMessage: (m: { type?: string; command?: string }) => {
        if (m.type === "request" && m.command && RESUMING.has(m.command) && this.paused?.session.id === session.id) this.resumed();
      },
      onDidSendMessage: (m: { type?: string; event?: string; body?: { threadId?: number } }) => {
        if (m.type !== "event") return;
        if (m.event === "stopped") {
          this.stopEpoch++;
          const p: Paused = {
            session,
            proxy: new AgentProxy(session),
            frameId: undefined,
            threadId: m.body?.threadId,
            stoppedAt: Date.now(),
            // without a thread to ask, any focus change is the new stop's
            staleFocus: m.body?.threadId === undefined ? undefined : focusKey(debug.activeStackItem()),
          };
          this.paused = p;
          // the top frame now, rather than when VS Code gets round to focusing it (~1 s later)
          void this.snapshotTopFrame(p, this.stopEpoch);
        } else if (m.event === "continued" && this.paused?.session.id === session.id) {
          this.resumed();
        }
      },
    };
  }

  private resumed(): void {
    this.paused = undefined;
    this.panel.showStatus("Running; the panel shows the last stop.");
  }

  /** The current stop, if a Python session is paused. */
  current(): Paused | undefined {
    return this.paused;
  }

  async modules(): Promise<string[]> {
    const p = this.paused;
    if (!p) return [];
    return (await p.proxy.call("modules", {}, p.frameId, modulesResultCodec)).modules;
  }

  /** Applies the stored breakpoints in the paused debuggee; the agent's errors come back as text. */
  pushBreakpoints(): Promise<string[]> {
    return this.setBreakpoints(agentSpecs(this.store.all()));
  }

  /** Validates `extra` by applying the stored breakpoints plus it (the agent changes nothing on error). */
  pushBreakpointsWith(extra: SpecParts): Promise<string[]> {
    return this.setBreakpoints([...agentSpecs(this.store.all()), { ...extra, enabled: true }]);
  }

  private async setBreakpoints(specs: Array<SpecParts & { enabled: boolean }>): Promise<string[]> {
    const p = this.paused;
    if (!p) return [];
    try {
      const result = await p.proxy.call("set_breakpoints", { specs }, p.frameId, setBreakpointsResultCodec);
      return (result.errors ?? []).map((e) => e.message);
    } catch (err) {
      if (err instanceof AgentError) return [err.message];
      throw err;
    }
  }

  /** Opens the user's line; if VS Code then opens the pause frame's file, opens it again (once). */
  private async showUserLine(line: SourceLine, epoch: number): Promise<void> {
    const show = async () => {
      try {
        await window.showLine(line.path, line.line);
      } catch (err) {
        traceError(`could not open ${line.path}:${line.line}`, err);
      }
    };
    await show();
    const watcher = window.onDidChangeActiveTextEditor(() => {
      const active = window.activeEditorPath();
      if (epoch !== this.stopEpoch) watcher.dispose();
      else if (active && path.basename(active) === PAUSE_FRAME_FILE) {
        watcher.dispose();
        void show();
      }
    });
    setTimeout(() => watcher.dispose(), REOPEN_WINDOW_MS);
  }

  private async snapshotTopFrame(p: Paused, epoch: number): Promise<void> {
    if (p.threadId === undefined) return; // VS Code's focus will say which frame
    try {
      const trace = (await p.session.customRequest("stackTrace", { threadId: p.threadId, startFrame: 0, levels: 1 })) as {
        stackFrames?: Array<{ id?: unknown }>;
      };
      const id = trace.stackFrames?.[0]?.id;
      if (epoch === this.stopEpoch && p.frameId === undefined && typeof id === "number") await this.snapshotFrame(p, id, epoch);
    } catch (err) {
      traceError("stackTrace at the stop failed; waiting for VS Code's focus", err);
    }
  }

  /** The user (or VS Code) focused a frame: its snapshot, unless it is the one shown. */
  private async onFocusChanged(): Promise<void> {
    const p = this.paused;
    const item = debug.activeStackItem();
    if (!p || !debug.isStackFrame(item) || item.session.id !== p.session.id) return;
    if (focusKey(item) === p.staleFocus || item.frameId === p.frameId) return; // unchanged since the stop, or shown
    await this.snapshotFrame(p, item.frameId, this.stopEpoch);
  }

  private async snapshotFrame(p: Paused, frameId: number, epoch: number): Promise<void> {
    p.frameId = frameId;
    p.staleFocus = undefined;
    const asked = Date.now();
    try {
      const snapshot = await p.proxy.call("snapshot", {}, frameId, snapshotCodec);
      if (epoch !== this.stopEpoch || p.frameId !== frameId) return; // a newer stop or frame
      p.snapshot = snapshot;
      const timing = `stop -> frame ${asked - p.stoppedAt} ms, snapshot ${Date.now() - asked} ms (agent ${snapshot.elapsed_ms ?? "?"} ms)`;
      traceInfo(
        `snapshot: ${snapshot.tensors.length} tensors, ${snapshot.layers.length} layers${snapshot.hit ? `, hit at ${snapshot.hit.module} ${snapshot.hit.site} step ${snapshot.hit.step}` : ""}; ${timing}`,
      );
      this.store.setHitCounts(hitCounts(this.store.all(), snapshot.breakpoints));
      this.panel.showSnapshot(
        snapshot,
        p.session.name,
        {
          detail: (expression: string): Promise<Detail> => p.proxy.call("detail", { expression }, frameId, detailCodec),
          training: () => p.proxy.call("training", {}, frameId, trainingCodec),
          stepLayers: (step: number) => p.proxy.call("step_layers", { step }, frameId, stepLayersCodec),
        },
        p.stoppedAt,
      );
      if (snapshot.hit && this.revealedEpoch !== epoch) {
        this.revealedEpoch = epoch;
        await this.panel.reveal();
        if (snapshot.hit_line) await this.showUserLine(snapshot.hit_line, epoch);
      }
    } catch (err) {
      traceError("snapshot failed", err);
      this.panel.showStatus(`No tensor snapshot at this stop: ${(err as Error).message}`);
    }
  }
}

function focusKey(item: unknown): string | undefined {
  return debug.isStackFrame(item) ? `${item.session.id}/${item.threadId}/${item.frameId}` : undefined;
}
