/** The ranks of a job stop and go together: which DAP requests go to which sibling, and when. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RankCoordinator, type RankSession } from "../../src/ranks/rankCoordinator";

interface Sent {
  to: number;
  command: string;
  args?: Record<string, unknown>;
}

/** Sessions that record every request; each has two threads (a DataLoader's listed before the main one). */
function job(n: number, jobId = "job") {
  const sent: Sent[] = [];
  const log: string[] = [];
  const clock = { now: 1000 };
  const c = new RankCoordinator(
    (m) => log.push(m),
    () => clock.now,
  );
  const sessions: RankSession[] = [];
  for (let rank = 0; rank < n; rank++) {
    const s: RankSession = {
      id: `${jobId}/s${rank}`,
      rank,
      job: jobId,
      request: async (command, args) => {
        sent.push({ to: rank, command, args });
        if (command === "threads")
          return {
            threads: [
              { id: 20 + rank, name: "pin_memory" },
              { id: 10 + rank, name: "MainThread" },
            ],
          };
        return {};
      },
    };
    c.add(s);
    sessions.push(s);
  }
  const take = () => sent.splice(0).filter((m) => m.command !== "threads");
  return { c, sessions, sent, take, log, clock };
}

test("a rank that stops on its own pauses every running sibling, on its main thread", async () => {
  const { c, take } = job(3);
  const r = c.stopped("job/s1", "breakpoint", 11);
  assert.equal(r.sibling, false, "rank 1 stopped on its own");
  await r.done;
  assert.deepEqual(take(), [
    { to: 0, command: "pause", args: { threadId: 10 } },
    { to: 2, command: "pause", args: { threadId: 12 } },
  ]);
  // the siblings' pause stops come back: they are sibling pauses and pause nobody again
  for (const [id, t] of [
    ["job/s0", 10],
    ["job/s2", 12],
  ] as const) {
    const s = c.stopped(id, "pause", t);
    assert.equal(s.sibling, true);
    await s.done;
  }
  assert.deepEqual(take(), []);
  assert.deepEqual(
    c.ranks("job").map((v) => [v.rank, v.state, v.origin]),
    [
      [0, "stopped", false],
      [1, "stopped", true],
      [2, "stopped", false],
    ],
  );
});

test("Continue on the rank that stopped resumes the siblings paused for it, on the thread each stopped on", async () => {
  const { c, take } = job(2);
  await c.stopped("job/s1", "breakpoint", 11).done;
  await c.stopped("job/s0", "pause", 20).done;
  take();
  await c.continued("job/s1");
  assert.deepEqual(take(), [{ to: 0, command: "continue", args: { threadId: 20 } }]);
  assert.deepEqual(
    c.ranks("job").map((v) => v.state),
    ["running", "running"],
  );
  await c.continued("job/s1");
  assert.deepEqual(take(), [], "nothing is resumed twice");
});

test("a sibling that stopped on its own keeps its stop when the first rank continues", async () => {
  const { c, take } = job(3);
  await c.stopped("job/s1", "breakpoint", 11).done;
  await c.stopped("job/s0", "pause", 10).done;
  // rank 2 reached its own breakpoint before the pause arrived
  const own = c.stopped("job/s2", "breakpoint", 12);
  assert.equal(own.sibling, false);
  await own.done;
  take();
  await c.continued("job/s1");
  assert.deepEqual(take(), [{ to: 0, command: "continue", args: { threadId: 10 } }], "rank 2 is left stopped");
  assert.equal(c.ranks("job")[2].state, "stopped");
});

test("a pause stop no one asked for, while a sibling is stopped, is a sibling pause (tensorpeek's own store watcher)", async () => {
  const { c, take } = job(2);
  // the extension's pause of rank 0 was sent; rank 0's own watcher suspended it first: one stop, reason pause
  await c.stopped("job/s1", "breakpoint", 11).done;
  take();
  assert.equal(c.stopped("job/s0", "pause", 10).sibling, true);
  // with no rank stopped, a pause stop is the user's Pause on that rank: the others are paused too
  const other = job(2, "other");
  const user = other.c.stopped("other/s0", "pause", 10);
  assert.equal(user.sibling, false);
  await user.done;
  assert.deepEqual(other.take(), [{ to: 1, command: "pause", args: { threadId: 11 } }]);
});

test("a sibling whose pause never landed (blocked in a collective) gets a continue that cancels it", async () => {
  const { c, take } = job(2);
  await c.stopped("job/s1", "breakpoint", 11).done;
  take(); // rank 0's pause was sent; no stopped event comes (it waits in C for rank 1)
  await c.continued("job/s1");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(take(), [{ to: 0, command: "continue", args: { threadId: 10 } }]);
  // later, rank 0 stopping on its own is an origin again
  const again = c.stopped("job/s0", "breakpoint", 10);
  assert.equal(again.sibling, false);
});

test("a pause stop right after a rank was resumed for its sibling is that pause again: it runs on, nobody is paused", async () => {
  const { c, take, clock, log } = job(2);
  await c.stopped("job/s1", "breakpoint", 11).done;
  await c.stopped("job/s0", "pause", 10).done;
  await c.continued("job/s1");
  take();
  clock.now += 800;
  const echo = c.stopped("job/s0", "pause", 10);
  assert.equal(echo.sibling, true);
  await echo.done;
  assert.deepEqual(take(), [{ to: 0, command: "continue", args: { threadId: 10 } }], "rank 1 is not paused for it");
  assert.ok(log.includes("rank 0: stopped again right after it was resumed; continuing it"));
  // later, a pause of rank 0 is the user's own: it pauses rank 1
  clock.now += 5000;
  await c.stopped("job/s0", "pause", 10).done;
  assert.deepEqual(take(), [{ to: 1, command: "pause", args: { threadId: 11 } }]);
});

test("stepping on the rank that stopped keeps its siblings paused; steps never pause them again", async () => {
  const { c, take } = job(2);
  await c.stopped("job/s1", "breakpoint", 11).done;
  await c.stopped("job/s0", "pause", 10).done;
  take();
  c.running("job/s1"); // a `next` request
  await c.stopped("job/s1", "step", 11).done;
  assert.deepEqual(take(), [], "rank 0 is stopped already");
  assert.equal(c.ranks("job")[0].state, "stopped");
});

test("a rank the user continues by hand just runs; the ranks of another job are never touched", async () => {
  const a = job(2, "a");
  const b = job(2, "b");
  await a.c.stopped("a/s1", "breakpoint", 11).done;
  await a.c.stopped("a/s0", "pause", 10).done;
  a.take();
  await a.c.continued("a/s0");
  assert.deepEqual(a.take(), [], "rank 0 continued alone: nothing else is sent");
  await a.c.continued("a/s1");
  assert.deepEqual(a.take(), [], "rank 0 no longer counts as paused for rank 1");
  assert.deepEqual(b.take(), []);
});

test("a rank that ends is reported to the others of its job; a failed pause is logged, not thrown", async () => {
  const { c, sessions, log } = job(3);
  assert.deepEqual(
    c.ended("job/s1").map((s) => s.rank),
    [0, 2],
  );
  assert.equal(c.ranks("job")[1].state, "ended");
  sessions[0].request = async (command) => {
    if (command === "threads") throw new Error("session is ending");
    return {};
  };
  await c.stopped("job/s2", "exception", 12).done;
  assert.ok(
    log.some((m) => m === "rank 0: pause failed: session is ending"),
    log.join("\n"),
  );
  c.forgetJob("job");
  assert.deepEqual(c.ranks("job"), []);
});
