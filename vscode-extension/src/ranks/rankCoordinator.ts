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

  constructor(private readonly log: (message: string) => void) {}

  add(session: RankSession): void {
    this.members.set(session.id, { session, state: "running", threadId: undefined, pausedFor: undefined, pausePending: false });
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

  private siblings(m: Member): Member[] {
    return [...this.members.values()].filter((o) => o !== m && o.session.job === m.session.job);
  }

  private async pause(o: Member, origin: Member): Promise<void> {
    o.pausePending = true;
    o.pausedFor = origin.session.id;
    try {
      const threads = await threadIds(o.session);
      // pydevd suspends each thread it is asked for; a thread blocked in C (a collective waiting
      // for the stopped rank) suspends when it is back in Python
      await Promise.all(threads.map((t) => o.session.request("pause", { threadId: t })));
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
    try {
      // a pause still pending (the rank never got back to Python) is cancelled by the same request
      const threadId = wasStopped && o.threadId !== undefined ? o.threadId : (await threadIds(o.session))[0];
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

async function threadIds(session: RankSession): Promise<number[]> {
  const reply = (await session.request("threads")) as { threads?: Array<{ id?: unknown }> } | undefined;
  return (reply?.threads ?? []).map((t) => t.id).filter((id): id is number => typeof id === "number");
}
