/**
 * The snapshots debuggees send just before a tensor-breakpoint stop (`engine/pause.py`): a
 * custom DAP event, `tensorpeekSnapshot` with body `{version, reply}` (the agent's reply to
 * `snapshot` in the pause frame, as JSON text), seen by the adapter tracker ahead of the
 * session's `stopped` event. Kept per session until that stop takes it.
 */
import { AgentError, decodeReply } from "../wire/agentProxy";
import { PROTOCOL_VERSION, snapshotCodec, type Snapshot } from "../wire/protocol";

export const SNAPSHOT_EVENT = "tensorpeekSnapshot";
/** A snapshot sent ahead belongs to the session's next stop only if that stop comes this soon after it. */
export const FRESH_MS = 5000;

export class SentAhead {
  private readonly bodies = new Map<string, { at: number; body: unknown }>();

  /** The tracker saw the event for `session` at `at` (Date.now()). */
  sent(session: string, body: unknown, at: number): void {
    this.bodies.set(session, { at, body });
  }

  /**
   * The session stopped at `stoppedAt`: the snapshot sent just before, if one came (within
   * `FRESH_MS`) and it is a hit's; it is taken either way. A body that does not decode is
   * reported through `onError` and left for the caller to ask for instead.
   */
  take(session: string, stoppedAt: number, onError: (err: unknown) => void): Snapshot | undefined {
    const sent = this.bodies.get(session);
    this.bodies.delete(session);
    if (!sent || stoppedAt - sent.at > FRESH_MS) return undefined;
    const body = sent.body as { version?: unknown; reply?: unknown } | undefined;
    try {
      if (body?.version !== PROTOCOL_VERSION || typeof body.reply !== "string")
        throw new AgentError(`a ${SNAPSHOT_EVENT} event of protocol version ${String(body?.version)} without a reply text`);
      const snapshot = decodeReply(body.reply, "snapshot", snapshotCodec);
      return snapshot.hit ? snapshot : undefined;
    } catch (err) {
      onError(err);
      return undefined;
    }
  }
}
