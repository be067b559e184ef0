/**
 * The top frame of a stopped thread from whichever stackTrace answer comes first. At every stop
 * VS Code asks the adapter for the stack itself, and its request is usually answered before the
 * extension's own; the adapter tracker shows both requests and answers, matched here by `seq`.
 * No `vscode` import, so unit tests drive it with recorded messages.
 */
export interface TopFrameTrace {
  stackFrames?: Array<{ id?: unknown; source?: { path?: unknown } }>;
}

/**
 * stackTrace answers seen by the tracker, matched to their requests: a waiter for a thread's
 * top frame gets the first answer that starts at frame 0, whoever asked.
 */
export class TopFrames {
  private readonly requests = new Map<string, number>(); // `${session}/${seq}` -> threadId
  private readonly waiters = new Map<string, (trace: TopFrameTrace) => void>(); // `${session}/${thread}`

  asked(session: string, seq: number | undefined, args: { threadId?: number; startFrame?: number } | undefined): void {
    if (seq === undefined || args?.threadId === undefined || (args.startFrame ?? 0) !== 0) return;
    if (this.waiters.has(`${session}/${args.threadId}`)) this.requests.set(`${session}/${seq}`, args.threadId);
  }

  answered(session: string, seq: number | undefined, body: TopFrameTrace | undefined): void {
    const key = `${session}/${seq}`;
    const threadId = this.requests.get(key);
    if (threadId === undefined) return;
    this.requests.delete(key);
    if (body?.stackFrames?.length) this.waiters.get(`${session}/${threadId}`)?.(body);
  }

  wait(session: string, threadId: number): { answer: Promise<TopFrameTrace>; cancel: () => void } {
    const key = `${session}/${threadId}`;
    let cancel = () => undefined as void;
    const answer = new Promise<TopFrameTrace>((resolve) => {
      this.waiters.set(key, resolve);
      cancel = () => {
        if (this.waiters.get(key) === resolve) this.waiters.delete(key);
        for (const [k, t] of this.requests) if (t === threadId && k.startsWith(`${session}/`)) this.requests.delete(k);
      };
    });
    return { answer, cancel };
  }
}
