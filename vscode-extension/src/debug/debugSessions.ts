/**
 * Follows Python debug sessions: a `DebugAdapterTracker` sees every `stopped` event, the
 * focused frame comes from `vscode.debug.activeStackItem`, and each stop gets exactly one
 * snapshot: at a tensor-breakpoint hit the one the debuggee sent just before the stop (the
 * `tensorpeekSnapshot` event, `engine/pause.py`), shown with the stop; otherwise (and when
 * the debuggee sent none) one snapshot request. At a tensor-breakpoint hit it brings the Tensors view on screen and opens
 * the user's own line the hit came from (the stopped frame is tensorpeek's pause frame, whose
 * locals `hit`, `tensor` and `module` stay in the Variables view). Also the way the rest of the
 * extension reaches the agent while paused (modules, detail, live breakpoint updates).
 *
 * Every paused session keeps its own stop: the ranks of a torchrun job are paused together
 * (`RankCoordinator`), and the panel shows one of them: the rank that stopped on its own, or
 * the one the user picks in the panel's rank picker or focuses in Call Stack.
 */
import * as path from "node:path";
import type { DebugAdapterTracker, DebugAdapterTrackerFactory, DebugSession, Disposable } from "vscode";
import { hitCounts } from "../breakpoints/breakpointList";
import type { BreakpointStore } from "../breakpoints/breakpointStore";
import type { TensorPanel } from "../panel/tensorPanel";
import { traceError, traceInfo } from "../platform/log";
import { debug, window } from "../platform/vscodeapi";
import { RankCoordinator } from "../ranks/rankCoordinator";
import { PYTHON_DEBUG_TYPES } from "./launchConfig";
import { SentAhead, SNAPSHOT_EVENT } from "./sentAhead";
import { TopFrames, type TopFrameTrace } from "./topFrames";
import { rankIdentityOf, type RankIdentity } from "../ranks/rankJob";
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
import type { StopMarks } from "../wire/webviewProtocol";

/** The file of tensorpeek's pause frame (`tensorpeek/engine/pause.py`), which VS Code opens at a hit. */
const PAUSE_FRAME_FILE = "tensor_breakpoint.py";
/** How long after a hit VS Code's own opening of the pause frame's file is undone. */
const REOPEN_WINDOW_MS = 3000;

/** How long after a sibling pause VS Code's own focus of that rank is not taken as the user's choice. */
const SIBLING_FOCUS_MS = 2000;

const RESUMING = new Set(["continue", "next", "stepIn", "stepOut", "stepBack", "reverseContinue", "goto", "restartFrame"]);

interface Paused {
  session: DebugSession;
  proxy: AgentProxy;
  frameId: number | undefined;
  threadId: number | undefined;
  stoppedAt: number; // Date.now() at the stopped event
  staleFocus: string | undefined; // the frame VS Code had focused before this stop
  snapshot?: Snapshot;
  epoch: number; // the stopEpoch this stop was shown at (or would have been)
  forSibling: boolean; // a rank paused because another rank of its job stopped
  marks: StopMarks; // where this stop's time went (printed by the end-to-end test)
  pushed: boolean; // the snapshot shown came with the stop (sent ahead by the debuggee)
  topFrame: Promise<number | undefined>; // the stopped thread's top frame id, once a stackTrace says it
  setTopFrame: (id: number | undefined) => void;
}

export class DebugSessions implements DebugAdapterTrackerFactory {
  /** The stop of each paused session, by session id. */
  private readonly stops = new Map<string, Paused>();
  /** The stop the panel shows. */
  private paused: Paused | undefined;
  private stopEpoch = 0;
  private revealedEpoch = -1;
  private userLineEpoch = -1;
  private readonly ranks = new RankCoordinator((m) => traceInfo(m));
  private readonly rankOf = new Map<string, { identity: RankIdentity; name: string }>();
  /** The top frame of a stopped thread from whichever stackTrace answers first: VS Code's own or ours. */
  private readonly topFrames = new TopFrames();
  /** The snapshot each session's debuggee sent ahead of its next stop. */
  private readonly ahead = new SentAhead();

  constructor(
    private readonly panel: TensorPanel,
    private readonly store: BreakpointStore,
  ) {
    store.onDidChange(() => void this.pushBreakpoints());
    panel.onRankPicked((id) => void this.showRank(id));
  }

  register(): Disposable[] {
    return [
      debug.onDidChangeActiveStackItem(() => void this.onFocusChanged()),
      debug.onDidTerminateDebugSession((s) => this.onTerminated(s)),
      debug.onDidStartDebugSession((s) => this.onStarted(s)),
    ];
  }

  /** A session that arms tensor breakpoints and writes to the Debug Console: the panel's page is made now, not at its first stop. */
  private onStarted(s: DebugSession): void {
    const config = s.configuration as { console?: unknown; type?: unknown };
    const internal = config.console === undefined || config.console === "internalConsole";
    if ((PYTHON_DEBUG_TYPES as readonly string[]).includes(s.type) && internal && this.store.all().some((b) => b.enabled))
      void this.panel.warm();
  }

  createDebugAdapterTracker(session: DebugSession): DebugAdapterTracker {
    const identity = rankIdentityOf(session.configuration);
    if (identity) {
      this.rankOf.set(session.id, { identity, name: session.name });
      this.ranks.add({
        id: session.id,
        rank: identity.rank,
        job: identity.job,
        request: (command, args) => Promise.resolve(session.customRequest(command, args)),
      });
    }
    return {
      onWillReceiveMessage: (m: {
        type?: string;
        command?: string;
        seq?: number;
        arguments?: { threadId?: number; startFrame?: number };
      }) => {
        if (m.type === "request" && m.command === "stackTrace") this.topFrames.asked(session.id, m.seq, m.arguments);
        if (m.type !== "request" || !m.command || !RESUMING.has(m.command)) return;
        if (identity) {
          if (m.command === "continue") void this.ranks.continued(session.id).then(() => this.showRanks());
          else this.ranks.running(session.id);
        }
        this.resumed(session);
      },
      onDidSendMessage: (m: {
        type?: string;
        event?: string;
        command?: string;
        request_seq?: number;
        success?: boolean;
        body?: { threadId?: number; reason?: string; stackFrames?: TopFrameTrace["stackFrames"] };
      }) => {
        if (m.type === "response" && m.command === "stackTrace" && m.success) this.topFrames.answered(session.id, m.request_seq, m.body);
        if (m.type !== "event") return;
        if (m.event === SNAPSHOT_EVENT) this.ahead.sent(session.id, m.body, Date.now());
        else if (m.event === "stopped") this.onStopped(session, m.body, identity !== undefined);
        else if (m.event === "continued") {
          if (identity) this.ranks.running(session.id);
          this.resumed(session);
        }
      },
    };
  }

  private onStopped(session: DebugSession, body: { threadId?: number; reason?: string } | undefined, isRank: boolean): void {
    const stoppedAt = Date.now();
    let setTopFrame: (id: number | undefined) => void = () => undefined;
    const topFrame = new Promise<number | undefined>((resolve) => (setTopFrame = resolve));
    const p: Paused = {
      session,
      proxy: new AgentProxy(session),
      frameId: undefined,
      threadId: body?.threadId,
      stoppedAt,
      marks: { stopped: stoppedAt },
      // without a thread to ask, any focus change is the new stop's
      staleFocus: body?.threadId === undefined ? undefined : focusKey(debug.activeStackItem()),
      epoch: this.stopEpoch,
      forSibling: false,
      pushed: false,
      topFrame,
      setTopFrame,
    };
    this.stops.set(session.id, p);
    const sentAhead = this.ahead.take(session.id, stoppedAt, (err) =>
      traceError("the snapshot sent with the stop could not be read; asking for it instead", err),
    );
    // a rank paused for its sibling's stop is kept for the rank picker; the panel stays on the rank that stopped
    const sibling = isRank && this.ranks.stopped(session.id, body?.reason, body?.threadId).sibling;
    p.forSibling = sibling;
    const shownJob = this.paused ? this.ranks.jobOf(this.paused.session.id) : undefined;
    if (!(sibling && shownJob !== undefined && shownJob === this.ranks.jobOf(session.id))) {
      p.epoch = ++this.stopEpoch;
      this.paused = p;
    }
    this.showRanks();
    if (sentAhead && p.threadId !== undefined) {
      // the hit's snapshot came with the stop: shown now, before any request is answered
      p.pushed = true;
      p.snapshot = sentAhead;
      p.marks.pushed = Date.now();
      traceInfo(`snapshot of '${session.name}' sent with the stop: ${describe(sentAhead)}`);
      void this.shown(p, sentAhead, topFrame, p.epoch);
    }
    // the top frame now, rather than when VS Code gets round to focusing it (~1 s later)
    void this.snapshotTopFrame(p, p.epoch);
  }

  private onTerminated(s: DebugSession): void {
    this.stops.delete(s.id);
    const rank = this.rankOf.get(s.id);
    if (rank) {
      const others = this.ranks.ended(s.id);
      const job = this.ranks.jobOf(s.id);
      const left = job ? this.ranks.ranks(job).filter((v) => v.state !== "ended") : [];
      const states = left.map((v) => `rank ${v.rank} ${v.state === "stopped" ? (v.origin ? "stopped" : "paused") : v.state}`);
      traceInfo(
        `${rank.name}'s session ended${others.length ? `; still in the job: ${others.map((o) => `rank ${o.rank}`).join(", ")}` : ""}`,
      );
      this.panel.showStatus(`${rank.name}'s session ended${states.length ? `; ${states.join(", ")}` : "; every rank has ended"}.`);
      this.showRanks();
    } else if (this.ranks.ranks(s.id).length) {
      traceInfo(`torchrun job '${s.name}' ended`);
      this.ranks.forgetJob(s.id);
    }
    if (this.paused?.session.id !== s.id) return;
    this.paused = undefined;
    this.panel.showStatus(`'${s.name}' ended; the panel shows its last stop.`);
  }

  /** A rank's script ended (the job adapter's report): the panel says so. */
  rankExited(text: string, failed: boolean): void {
    traceInfo(text);
    this.panel.showStatus(text);
    if (failed) void window.showWarningMessage(`tensorpeek: ${text}`);
  }

  private resumed(session: DebugSession): void {
    const wasShown = this.paused?.session.id === session.id;
    this.stops.delete(session.id);
    if (!wasShown) return;
    this.paused = undefined;
    this.panel.showStatus("Running; the panel shows the last stop.");
    this.showRanks();
  }

  /** The rank picker's list: the ranks of the job of the session shown (none outside a job). */
  private showRanks(): void {
    const shownId = this.paused?.session.id;
    const job = shownId ? this.ranks.jobOf(shownId) : undefined;
    const views = job ? this.ranks.ranks(job) : [];
    this.panel.showRanks(
      views.map((v) => ({ id: v.id, label: `rank ${v.rank}`, state: v.origin ? "stopped" : v.state === "stopped" ? "paused" : v.state })),
      shownId,
      shownId ? this.rankOf.get(shownId)?.identity.worldSize : undefined,
    );
  }

  /** The rank picker: show that rank's stop (its snapshot, taken now if not yet). */
  private async showRank(id: string): Promise<void> {
    const p = this.stops.get(id);
    const name = this.rankOf.get(id)?.name ?? "that session";
    if (!p) {
      this.panel.showStatus(`${name} is not paused; pause it in Call Stack to see its tensors.`);
      return;
    }
    p.epoch = ++this.stopEpoch;
    this.paused = p;
    this.showRanks();
    if (p.snapshot && (p.frameId !== undefined || p.pushed)) this.present(p, p.snapshot, p.frameId ?? p.topFrame);
    else if (p.frameId !== undefined) await this.snapshotFrame(p, p.frameId);
    else await this.snapshotTopFrame(p, p.epoch);
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
      // a rank paused for its sibling stops on whichever thread got there first: show its main thread
      if (p.forSibling) p.threadId = (await mainThread(p.session)) ?? p.threadId;
      const threadId = p.threadId;
      // VS Code asks for the stack itself at every stop and its request is usually answered first
      const seen = this.topFrames.wait(p.session.id, threadId);
      const ours = Promise.resolve(
        p.session.customRequest("stackTrace", { threadId, startFrame: 0, levels: 1 }) as Thenable<TopFrameTrace>,
      );
      const trace = await Promise.race([seen.answer, ours]).finally(seen.cancel);
      p.marks.stackTrace ??= Date.now();
      const id = trace.stackFrames?.[0]?.id;
      const top = trace.stackFrames?.[0]?.source?.path;
      const atPauseFrame = typeof top === "string" && path.basename(top) === PAUSE_FRAME_FILE;
      if (p.pushed && atPauseFrame && typeof id === "number" && this.stops.get(p.session.id) === p) {
        // the snapshot shown is this frame's (it came with the stop): only its id was missing
        if (p.frameId === undefined) p.frameId = id;
        p.setTopFrame(id);
        return;
      }
      p.pushed = false; // sent for another stop, or none: this frame's is asked for
      p.setTopFrame(typeof id === "number" ? id : undefined);
      if (typeof top === "string" && path.basename(top) === PAUSE_FRAME_FILE && this.revealedEpoch !== epoch && this.paused === p) {
        // a tensor-breakpoint stop (tensorpeek's pause frame is on top): bring the panel up while
        // the snapshot is taken, so the webview loads in parallel rather than after it
        this.revealedEpoch = epoch;
        p.marks.reveal = Date.now();
        void this.panel.reveal();
      }
      if (this.stops.get(p.session.id) === p && p.frameId === undefined && typeof id === "number") await this.snapshotFrame(p, id);
    } catch (err) {
      p.setTopFrame(undefined);
      traceError("stackTrace at the stop failed; waiting for VS Code's focus", err);
    }
  }

  /** The user (or VS Code) focused a frame: its snapshot, unless it is the one shown. */
  private async onFocusChanged(): Promise<void> {
    const item = debug.activeStackItem();
    if (!debug.isStackFrame(item)) return;
    let p = this.paused;
    const other = this.stops.get(item.session.id);
    // VS Code focuses a rank paused for its sibling by itself right after its stop; only a later
    // focus is the user's choice (the panel keeps showing the rank that stopped on its own)
    const chosen = other && (!other.forSibling || Date.now() - other.stoppedAt > SIBLING_FOCUS_MS);
    if (other && other !== p && chosen && focusKey(item) !== other.staleFocus) {
      // the user picked another paused session's frame in Call Stack (another rank): show that one
      other.epoch = ++this.stopEpoch;
      this.paused = p = other;
      this.showRanks();
    }
    if (!p || item.session.id !== p.session.id) return;
    if (p.pushed && p.frameId === undefined) await p.topFrame; // the shown snapshot's frame, once known
    if (focusKey(item) === p.staleFocus || item.frameId === p.frameId) return; // unchanged since the stop, or shown
    await this.snapshotFrame(p, item.frameId);
  }

  /** Shows a stop's snapshot in the panel (and the hit counts it carries); `frameId` is the frame it was taken in (still to come for one sent with the stop). */
  private present(p: Paused, snapshot: Snapshot, frameId: number | Promise<number | undefined>): void {
    this.store.setHitCounts(hitCounts(this.store.all(), snapshot.breakpoints));
    this.panel.showSnapshot(
      snapshot,
      p.session.name,
      {
        detail: async (expression: string, params = {}): Promise<Detail> =>
          p.proxy.call("detail", { ...params, expression }, await frameId, detailCodec),
        training: async () => p.proxy.call("training", {}, await frameId, trainingCodec),
        stepLayers: async (step: number) => p.proxy.call("step_layers", { step }, await frameId, stepLayersCodec),
      },
      p.stoppedAt,
      p.marks,
    );
  }

  private async snapshotFrame(p: Paused, frameId: number): Promise<void> {
    p.frameId = frameId;
    p.staleFocus = undefined;
    const asked = Date.now();
    p.marks.asked ??= asked;
    try {
      const snapshot = await p.proxy.call("snapshot", {}, frameId, snapshotCodec);
      p.marks.replied ??= Date.now();
      if (this.stops.get(p.session.id) !== p || p.frameId !== frameId) return; // resumed, or a newer frame
      p.snapshot = snapshot;
      p.pushed = false;
      const timing = `stop -> frame ${asked - p.stoppedAt} ms, snapshot ${Date.now() - asked} ms (agent ${snapshot.elapsed_ms ?? "?"} ms)`;
      traceInfo(`snapshot of '${p.session.name}': ${describe(snapshot)}; ${timing}`);
      // the stop's epoch now, not when it was asked: a rank picked while its snapshot was on the
      // way (the picker found the frame already asked for) is shown when the answer comes
      await this.shown(p, snapshot, frameId, p.epoch);
    } catch (err) {
      traceError("snapshot failed", err);
      this.panel.showStatus(`No tensor snapshot at this stop: ${(err as Error).message}`);
    }
  }

  /** A stop's snapshot is in: the panel shows it (unless another stop is shown) and, at a hit, comes on screen with the user's line. */
  private async shown(p: Paused, snapshot: Snapshot, frameId: number | Promise<number | undefined>, epoch: number): Promise<void> {
    if (epoch !== this.stopEpoch || this.paused !== p) return; // kept for the rank picker; another stop is shown
    this.present(p, snapshot, frameId);
    if (snapshot.hit && this.revealedEpoch !== epoch) {
      this.revealedEpoch = epoch;
      p.marks.reveal = Date.now();
      await this.panel.reveal();
    }
    if (snapshot.hit && snapshot.hit_line && this.userLineEpoch !== epoch) {
      this.userLineEpoch = epoch;
      await this.showUserLine(snapshot.hit_line, epoch);
    }
  }
}

function describe(snapshot: Snapshot): string {
  const hit = snapshot.hit ? `, hit at ${snapshot.hit.module} ${snapshot.hit.site} step ${snapshot.hit.step}` : "";
  return `${snapshot.tensors.length} tensors, ${snapshot.layers.length} layers${hit}`;
}

/** The id of the debuggee's main thread (pydevd names it `MainThread`), if it lists one. */
async function mainThread(session: DebugSession): Promise<number | undefined> {
  const reply = (await session.customRequest("threads")) as { threads?: Array<{ id?: unknown; name?: unknown }> } | undefined;
  const main = reply?.threads?.find((t) => t.name === "MainThread");
  return typeof main?.id === "number" ? main.id : undefined;
}

function focusKey(item: unknown): string | undefined {
  return debug.isStackFrame(item) ? `${item.session.id}/${item.threadId}/${item.frameId}` : undefined;
}
