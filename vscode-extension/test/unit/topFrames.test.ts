/**
 * Matching the stackTrace requests and answers the adapter tracker sees (as VS Code sends them
 * at a stop) to a waiter for one thread's top frame.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TopFrames } from "../../src/debug/topFrames";

const frames = (id: number) => ({ stackFrames: [{ id, source: { path: "/w/train.py" } }] });

/** Whether `p` has settled (after the microtasks queued so far). */
async function settled<T>(p: Promise<T>): Promise<{ value?: T; done: boolean }> {
  let out: { value?: T; done: boolean } = { done: false };
  void p.then((value) => (out = { value, done: true }));
  await new Promise((r) => setImmediate(r));
  return out;
}

test("the first answer from frame 0 for the waited thread resolves the wait, whoever asked", async () => {
  const t = new TopFrames();
  const wait = t.wait("s1", 7);
  t.asked("s1", 10, { threadId: 8, startFrame: 0 }); // another thread
  t.asked("s1", 11, { threadId: 7, startFrame: 1 }); // the rest of the stack
  t.asked("s1", 12, { threadId: 7 }); // VS Code's first request: startFrame omitted means 0
  t.asked("s2", 12, { threadId: 7, startFrame: 0 }); // the same seq and thread in another session
  t.answered("s1", 10, frames(100));
  t.answered("s1", 11, frames(101));
  t.answered("s2", 12, frames(102));
  assert.equal((await settled(wait.answer)).done, false, "no answer for this session's thread 7 from frame 0 yet");
  t.answered("s1", 12, frames(103));
  assert.deepEqual((await settled(wait.answer)).value, frames(103));
  wait.cancel();
});

test("an empty answer does not resolve the wait; requests before the wait, or after its cancel, are not matched", async () => {
  const t = new TopFrames();
  t.asked("s1", 1, { threadId: 7, startFrame: 0 }); // before anyone waits: not recorded
  const wait = t.wait("s1", 7);
  t.answered("s1", 1, frames(1));
  t.asked("s1", 2, { threadId: 7, startFrame: 0 });
  t.answered("s1", 2, { stackFrames: [] });
  assert.equal((await settled(wait.answer)).done, false);
  t.asked("s1", 3, { threadId: 7, startFrame: 0 });
  wait.cancel();
  t.answered("s1", 3, frames(3));
  assert.equal((await settled(wait.answer)).done, false, "cancelled: the answer is ignored");
  const again = t.wait("s1", 7);
  t.answered("s1", 3, frames(3)); // the request was forgotten at the cancel
  assert.equal((await settled(again.answer)).done, false);
  again.cancel();
});
