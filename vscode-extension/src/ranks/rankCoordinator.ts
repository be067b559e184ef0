/**
 * The ranks of a torchrun job stop and go together. When one rank's session stops on its own
 * (a tensor breakpoint, a line breakpoint, an exception, the user's Pause), every sibling that
 * is running gets DAP `pause` requests for its threads; when the user continues the rank that
 * stopped, the siblings paused for it get `continue`. A sibling that stopped on its own keeps
 * its stop, and a sibling the user continues by hand simply runs. No `vscode` here: the
 * sessions are reached through `RankSession.request`, so node tests drive it with fakes.
 *
 * A stop with reason `pause` while another rank of the job is stopped on its own is a sibling
 * pause whoever asked for it (this class, or tensorpeek's own store watcher inside the rank,
 * docs/ranks-protocol.md): it never pauses the others again.
 */

/** A pause stop this soon after the rank was resumed for its sibling is that pause again. */
const ECHO_MS = 3000;

export interface RankSession {
  id: string;
  rank: number;
  job: string;
  /** A DAP request to the rank's debug adapter (`session.customRequest`). */
  request(command: string, args?: Record<string, unknown>): Promise<unknown>;
}

export type RankState = "running" | "stopped" | "ended";

interface Member {
  session: RankSession;
  state: RankState;
  threadId: number | undefined; // of its last stop
  pausedFor: string | undefined; // the session id of the rank whose stop paused this one
  pausePending: boolean; // pause sent, stopped event not seen yet
  resumedAt: number | undefined; // when this class last resumed it for its sibling (Date.now())
}

export interface RankView {
  id: string;
  rank: number;
  state: RankState;
  /** Stopped on its own (the rank that hit), rather than paused for a sibling. */
  origin: boolean;
}

export class RankCoordinator {
  private readonly members = new Map<string, Member>();

  constructor(
    private readonly log: (message: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  add(session: RankSession): void {
    this.members.set(session.id, {
      session,
      state: "running",
      threadId: undefined,
      pausedFor: undefined,
      pausePending: false,
      resumedAt: undefined,
    });
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  /** The rank's session ended; the ranks of its job that are still there (to be told). */
  ended(id: string): RankSession[] {
    const m = this.members.get(id);
    if (!m) return [];
    m.state = "ended";
    for (const other of this.siblings(m)) if (other.pausedFor === id && other.state !== "stopped") other.pausedFor = undefined;
    return this.siblings(m)
      .filter((o) => o.state !== "ended")
      .map((o) => o.session);
  }

  /** Forgets a whole job (its parent session ended). */
  forgetJob(job: string): void {
    for (const [id, m] of this.members) if (m.session.job === job) this.members.delete(id);
  }

  /** The job's ranks, by rank number. */
  ranks(job: string): RankView[] {
    return [...this.members.values()]
      .filter((m) => m.session.job === job)
      .sort((a, b) => a.session.rank - b.session.rank)
      .map((m) => ({ id: m.session.id, rank: m.session.rank, state: m.state, origin: m.state === "stopped" && m.pausedFor === undefined }));
  }

  jobOf(id: string): string | undefined {
    return this.members.get(id)?.session.job;
  }

  /**
   * A rank's `stopped` event. `sibling` is true when it is a sibling pause (the rank was paused
   * for another rank's stop), false when the rank stopped on its own; then `done` settles once
   * its running siblings were sent their pause requests.
   */
  stopped(id: string, reason: string | undefined, threadId: number | undefined): { sibling: boolean; done: Promise<void> } {
    const m = this.members.get(id);
    if (!m) return { sibling: false, done: Promise.resolve() };
    m.state = "stopped";
    m.threadId = threadId;
    const origin = this.siblings(m).find((o) => o.state === "stopped" && o.pausedFor === undefined);
    if (reason === "pause" && (m.pausePending || origin)) {
      m.pausePending = false;
      m.pausedFor ??= origin?.session.id;
      return { sibling: true, done: Promise.resolve() };
    }
    if (reason === "pause" && m.resumedAt !== undefined && this.now() - m.resumedAt < ECHO_MS) {
      // a second suspension of the pause that was just lifted (the rank's own store watcher asks
      // pydevd too): the rank was meant to run on, so it does, and nobody else is paused for it
      this.log(`rank ${m.session.rank}: stopped again right after it was resumed; continuing it`);
      m.state = "running";
      return { sibling: true, done: this.request(m, "continue", { threadId }) };
    }
    m.pausePending = false;
    m.pausedFor = undefined;
    const running = this.siblings(m).filter((o) => o.state === "running" && !o.pausePending);
    return { sibling: false, done: Promise.all(running.map((o) => this.pause(o, m))).then(() => undefined) };
  }

  /** The user resumed a rank (a `continue` request to it): the siblings paused for it resume too. */
  async continued(id: string): Promise<void> {
    const m = this.members.get(id);
    if (!m) return;
    m.state = "running";
    m.pausedFor = undefined;
    const paused = this.siblings(m).filter((o) => o.pausedFor === id);
    await Promise.all(paused.map((o) => this.resume(o, m)));
  }

  /** A rank runs again for a step or because its adapter said so (`continued`): it stays the origin of nothing new. */
  running(id: string): void {
    const m = this.members.get(id);
    if (m && m.state === "stopped") m.state = "running";
  }

  private async request(m: Member, command: string, args: Record<string, unknown>): Promise<void> {
    try {
      await m.session.request(command, args);
    } catch (err) {
      this.log(`rank ${m.session.rank}: ${command} failed: ${(err as Error).message}`);
    }
  }

  private siblings(m: Member): Member[] {
    return [...this.members.values()].filter((o) => o !== m && o.session.job === m.session.job);
  }

  private async pause(o: Member, origin: Member): Promise<void> {
    o.pausePending = true;
    o.pausedFor = origin.session.id;
    try {
      // the main thread, where training runs: pydevd suspends it at its next Python line (a thread
      // blocked in C, e.g. in a collective waiting for the stopped rank, once it is back in Python)
      const main = await mainThreadId(o.session);
      if (main === undefined) throw new Error("it lists no threads");
      await o.session.request("pause", { threadId: main });
      this.log(`rank ${o.session.rank}: paused (rank ${origin.session.rank} stopped)`);
    } catch (err) {
      o.pausePending = false;
      this.log(`rank ${o.session.rank}: pause failed: ${(err as Error).message}`);
    }
  }

  private async resume(o: Member, origin: Member): Promise<void> {
    const wasStopped = o.state === "stopped";
    o.pausedFor = undefined;
    o.pausePending = false;
    o.state = "running";
    o.resumedAt = this.now();
    try {
      // a pause still pending (the rank never got back to Python) is cancelled by the same request
      const threadId = wasStopped && o.threadId !== undefined ? o.threadId : await mainThreadId(o.session);
      if (threadId === undefined) return;
      this.log(`rank ${o.session.rank}: continued (rank ${origin.session.rank} continued)`);
      if (wasStopped) await o.session.request("continue", { threadId });
      // answered only once the rank resumes, so not awaited
      else
        void o.session
          .request("continue", { threadId })
          .catch((err: Error) => this.log(`rank ${o.session.rank}: continue: ${err.message}`));
    } catch (err) {
      this.log(`rank ${o.session.rank}: continue failed: ${(err as Error).message}`);
    }
  }
}

/** The thread pydevd names `MainThread`, else the first it lists. */
async function mainThreadId(session: RankSession): Promise<number | undefined> {
  const reply = (await session.request("threads")) as { threads?: Array<{ id?: unknown; name?: unknown }> } | undefined;
  const threads = (reply?.threads ?? []).filter((t): t is { id: number; name?: unknown } => typeof t.id === "number");
  return (threads.find((t) => t.name === "MainThread") ?? threads[0])?.id;
}
