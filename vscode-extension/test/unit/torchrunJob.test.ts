/**
 * The torchrun job's parent adapter against real processes: a stand-in for `python -m
 * torch.distributed.run` (a node script given the exact argv) reports two ranks on the real
 * report socket, writes to stdout and stderr, and starts a grandchild; the adapter must
 * attach both ranks, forward the output, say how each rank ended, and on disconnect end the
 * whole process group. (tests/debug_ranks runs the Python side under the real torchrun.)
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { checkRankJob, type RankExit, type RankListening } from "../../src/ranks/rankJob";
import { TorchrunJobAdapter, type DapMessage } from "../../src/ranks/torchrunJob";

const dir = mkdtempSync(path.join(tmpdir(), "tensorpeek-job-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// argv as torchrun would get it: -m torch.distributed.run --nproc-per-node N ... --report HOST:PORT SCRIPT ARGS
const FAKE_TORCHRUN = `
const net = require("node:net");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const argv = process.argv.slice(2);
const n = Number(argv[argv.indexOf("--nproc-per-node") + 1]);
const [host, port] = argv[argv.indexOf("--report") + 1].split(":");
const out = argv[argv.length - 1];
fs.writeFileSync(out + "/argv.json", JSON.stringify(argv));
const grandchild = spawn("sleep", ["60"], { stdio: "ignore" });
fs.writeFileSync(out + "/grandchild.pid", String(grandchild.pid));
process.stdout.write("hello from the job\\n");
process.stderr.write("a warning from the job\\n");
let sent = 0;
for (let rank = 0; rank < n; rank++) {
  const s = net.createConnection(Number(port), host, () => {
    s.write(JSON.stringify({ event: "listening", rank, local_rank: rank, world_size: n, host: "127.0.0.1", port: 50000 + rank, pid: 100 + rank }) + "\\n");
    if (process.env.FAKE_MODE === "exit") {
      const failed = rank === 1;
      s.end(JSON.stringify({ event: "exit", rank, status: failed ? "failed" : "completed", exit_code: failed ? 1 : 0, error: failed ? "ValueError: planted" : null, stop_reason: null }) + "\\n", () => {
        if (++sent === n) { grandchild.kill(); setTimeout(() => process.exit(3), 100); }
      });
    }
  });
}
setInterval(() => undefined, 1000);
`;
const fakeJs = path.join(dir, "fake_torchrun.js");
writeFileSync(fakeJs, FAKE_TORCHRUN);
const fakePython = path.join(dir, "python");
writeFileSync(fakePython, `#!/bin/sh\nexec "${process.execPath}" "${fakeJs}" "$@"\n`);
chmodSync(fakePython, 0o755);

function start(mode: "exit" | "stay", python = fakePython) {
  const checked = checkRankJob({
    type: "tensorpeek",
    request: "launch",
    name: "ddp",
    nprocPerNode: 2,
    program: "/w/train.py",
    args: [dir],
    env: { FAKE_MODE: mode },
  });
  assert.ok(checked.ok);
  const messages: DapMessage[] = [];
  const ranks: RankListening[] = [];
  const exits: Array<{ exit: RankExit; text: string }> = [];
  const adapter = new TorchrunJobAdapter(python, checked.value, {
    startRank: async (l) => {
      ranks.push(l);
      return true;
    },
    rankExited: (exit, text) => exits.push({ exit, text }),
    log: () => undefined,
  });
  adapter.onDidSendMessage((m) => messages.push(m));
  let seq = 1;
  const request = (command: string, args: Record<string, unknown> = {}) =>
    adapter.handleMessage({ seq: seq++, type: "request", command, arguments: args });
  const until = async (what: string, probe: () => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!probe()) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen; messages: ${JSON.stringify(messages)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const event = (name: string) => messages.filter((m) => m.type === "event" && m.event === name);
  const response = (command: string) => messages.find((m) => m.type === "response" && m.command === command);
  const output = (category: string) =>
    event("output")
      .filter((m) => (m.body as { category: string }).category === category)
      .map((m) => (m.body as { output: string }).output)
      .join("");
  return { adapter, messages, ranks, exits, request, until, event, response, output };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a job whose ranks end: both ranks attached, output forwarded, how each ended said, the session ends with torchrun's code", async () => {
  const j = start("exit");
  j.request("initialize");
  assert.equal(j.event("initialized").length, 1);
  j.request("launch");
  j.request("configurationDone");
  await j.until("terminated", () => j.event("terminated").length === 1);
  assert.equal(j.response("launch")?.success, true);
  assert.deepEqual(j.ranks.map((r) => [r.rank, r.port]).sort(), [
    [0, 50000],
    [1, 50001],
  ]);
  const argv = JSON.parse(readFileSync(path.join(dir, "argv.json"), "utf8")) as string[];
  assert.deepEqual(argv.slice(0, 7), [
    "-m",
    "torch.distributed.run",
    "--nproc-per-node",
    "2",
    "--standalone",
    "-m",
    "tensorpeek.cli.debug_ranks",
  ]);
  assert.match(argv[8], /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(argv.slice(9), ["/w/train.py", dir]);
  assert.equal(j.output("stdout"), "hello from the job\n");
  assert.equal(j.output("stderr"), "a warning from the job\n");
  assert.match(j.output("console"), /rank 1\/2 failed with exit code 1: ValueError: planted\./);
  assert.deepEqual(j.exits.map((e) => e.text).sort(), ["rank 0/2 finished.", "rank 1/2 failed with exit code 1: ValueError: planted."]);
  assert.deepEqual(j.event("exited")[0].body, { exitCode: 3 });
});

test("disconnecting the job's session ends torchrun's whole process group", async () => {
  const j = start("stay");
  j.request("initialize");
  j.request("launch");
  await j.until("two ranks", () => j.ranks.length === 2);
  const grandchild = Number(readFileSync(path.join(dir, "grandchild.pid"), "utf8"));
  assert.ok(alive(grandchild), "the job's grandchild runs");
  assert.ok(j.adapter.pid() !== undefined && alive(j.adapter.pid()!));
  j.request("disconnect", { terminateDebuggee: true });
  await j.until("disconnect answered", () => j.response("disconnect") !== undefined);
  assert.equal(j.response("disconnect")?.success, true);
  assert.equal(j.event("terminated").length, 1);
  await j.until("grandchild gone", () => !alive(grandchild), 5000);
  j.request("threads");
  assert.deepEqual(j.response("threads")?.body, { threads: [] }, "the job session has no threads of its own");
});

test("an interpreter that does not exist: the launch fails with its path and the session ends", async () => {
  const j = start("exit", path.join(dir, "no-such-python"));
  j.request("initialize");
  j.request("launch");
  await j.until("terminated", () => j.event("terminated").length === 1);
  const launch = j.response("launch");
  assert.equal(launch?.success, false);
  assert.match(launch?.message ?? "", /^could not start .*no-such-python: spawn .*ENOENT/);
  assert.equal(j.ranks.length, 0);
});

test("requests the job session cannot answer say where to go instead", () => {
  const j = start("exit");
  j.request("evaluate", { expression: "x" });
  const r = j.response("evaluate");
  assert.equal(r?.success, false);
  assert.match(r?.message ?? "", /use a rank's session \(rank 0, rank 1, \.\.\.\)/);
});
