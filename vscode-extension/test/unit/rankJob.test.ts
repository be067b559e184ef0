/** A `"nprocPerNode"` launch configuration: what is refused (and why), the torchrun command line, the ranks' reports. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkNprocPerNode,
  checkRankJob,
  isRankJob,
  MAX_NPROC_PER_NODE,
  parseRankReport,
  rankAttachConfig,
  rankExitText,
  rankIdentityOf,
  torchrunArgv,
  type RankJob,
  type RankListening,
} from "../../src/ranks/rankJob";

const base = { type: "tensorpeek", request: "launch", name: "ddp", program: "/w/train.py" };

test("bad nprocPerNode values are refused with a message that says what is wanted", () => {
  const cases: Array<[unknown, RegExp]> = [
    [0, /^"nprocPerNode" must be at least 1 \(one process per rank\), not 0$/],
    [-2, /must be at least 1 .*not -2$/],
    [1.5, /^"nprocPerNode" must be a whole number of ranks, not 1\.5$/],
    ["2", /must be a whole number of ranks \(1 to 64\), not "2"$/],
    [Number.NaN, /must be a whole number of ranks \(1 to 64\), not null$/],
    [undefined, /not undefined$/],
    [null, /not null$/],
    [100000, /^"nprocPerNode" 100000 is more ranks than one window can debug: each rank is a debug session \(at most 64\)$/],
    [MAX_NPROC_PER_NODE + 1, /at most 64/],
  ];
  for (const [value, message] of cases) {
    const r = checkNprocPerNode(value);
    assert.equal(r.ok, false, `refused: ${String(value)}`);
    if (!r.ok) assert.match(r.error, message);
  }
  assert.deepEqual(checkNprocPerNode(1), { ok: true, value: 1 });
  assert.deepEqual(checkNprocPerNode(MAX_NPROC_PER_NODE), { ok: true, value: MAX_NPROC_PER_NODE });
});

test("a configuration is a rank job when it has the key, so a bad value is refused rather than run as one process", () => {
  assert.equal(isRankJob({ ...base, nprocPerNode: 0 }), true);
  assert.equal(isRankJob(base), false);
  assert.equal(isRankJob({ ...base, request: "attach", nprocPerNode: 2 }), false);
  const refused = checkRankJob({ ...base, nprocPerNode: 0 });
  assert.equal(refused.ok, false);
});

test("the rest of a rank job's configuration is checked too, each with its own message", () => {
  const errors = (config: Record<string, unknown>) => {
    const r = checkRankJob({ ...base, nprocPerNode: 2, ...config });
    return r.ok ? "accepted" : r.error;
  };
  assert.match(errors({ program: undefined }), /needs "program": the training script every rank runs/);
  assert.match(errors({ program: "  " }), /needs "program"/);
  assert.match(errors({ module: "train" }), /"module" is not supported with "nprocPerNode"/);
  assert.match(errors({ args: "--lr 1" }), /"args" must be an array of strings/);
  assert.match(errors({ torchrunArgs: [1] }), /"torchrunArgs" must be an array of strings/);
  assert.match(errors({ torchrunArgs: ["--nproc_per_node=4"] }), /may not contain --nproc_per_node=4: the job sets it/);
  assert.match(errors({ torchrunArgs: ["-m"] }), /may not contain -m/);
  assert.match(errors({ torchrunArgs: ["--no-python"] }), /may not contain --no-python/);
  assert.match(errors({ env: { A: 1 } }), /"env" must map names to strings/);
  assert.match(errors({ cwd: 3 }), /"cwd" must be a folder path/);
  assert.equal(errors({ args: ["--lr", "1"], torchrunArgs: ["--max-restarts", "0"], env: { A: "1" }, cwd: "/w" }), "accepted");
});

function job(extra: Partial<RankJob> = {}): RankJob {
  const r = checkRankJob({ ...base, nprocPerNode: 2, args: ["--steps", "4"] });
  assert.ok(r.ok);
  return { ...r.value, ...extra };
}

test("torchrun runs the rank launcher as a module with the script and its arguments last; --standalone unless a rendezvous is given", () => {
  assert.deepEqual(torchrunArgv(job(), 4321), [
    "-m",
    "torch.distributed.run",
    "--nproc-per-node",
    "2",
    "--standalone",
    "-m",
    "tensorpeek.cli.debug_ranks",
    "--report",
    "127.0.0.1:4321",
    "/w/train.py",
    "--steps",
    "4",
  ]);
  const own = torchrunArgv(job({ torchrunArgs: ["--rdzv-endpoint=127.0.0.1:29400", "--max-restarts", "0"] }), 1);
  assert.ok(!own.includes("--standalone"), "the user's rendezvous is kept");
  assert.deepEqual(own.slice(4, 7), ["--rdzv-endpoint=127.0.0.1:29400", "--max-restarts", "0"]);
  assert.ok(!torchrunArgv(job({ torchrunArgs: ["--master_port", "29511"] }), 1).includes("--standalone"));
});

const listening: RankListening = { event: "listening", rank: 1, local_rank: 1, world_size: 2, host: "127.0.0.1", port: 40001, pid: 77 };

test("rank reports are read field by field; a non-loopback host or a malformed line is refused", () => {
  assert.deepEqual(parseRankReport(JSON.stringify(listening)), { ok: true, value: listening });
  const exit = { event: "exit", rank: 1, status: "failed", exit_code: 1, error: "ValueError: bad", stop_reason: null };
  assert.deepEqual(parseRankReport(JSON.stringify(exit)), { ok: true, value: exit });
  for (const line of [
    JSON.stringify({ ...listening, host: "10.1.2.3" }),
    JSON.stringify({ ...listening, port: "40001" }),
    JSON.stringify({ ...exit, exit_code: null }),
    JSON.stringify({ event: "hello" }),
    "{not json",
    "null",
  ]) {
    assert.equal(parseRankReport(line).ok, false, line);
  }
});

test("a rank's child session attaches to its loopback port and carries its identity", () => {
  const config = rankAttachConfig(job(), listening, "job-session-1");
  assert.deepEqual(config, {
    type: "tensorpeek",
    request: "attach",
    name: "rank 1",
    connect: { host: "127.0.0.1", port: 40001 },
    justMyCode: true,
    tensorpeekRank: { rank: 1, localRank: 1, worldSize: 2, job: "job-session-1" },
  });
  assert.deepEqual(rankIdentityOf(config), { rank: 1, localRank: 1, worldSize: 2, job: "job-session-1" });
  assert.equal(rankIdentityOf({ type: "tensorpeek", request: "attach", name: "x" }), undefined);
  assert.equal(rankAttachConfig(job({ justMyCode: false }), listening, "j").justMyCode, false);
});

test("how a rank ended, in one line", () => {
  const e = { event: "exit" as const, rank: 1, status: "failed", exit_code: 1, error: "ValueError: bad", stop_reason: null };
  assert.equal(rankExitText(e, 2), "rank 1/2 failed with exit code 1: ValueError: bad.");
  assert.equal(rankExitText({ ...e, status: "completed", exit_code: 0, error: null }, 2), "rank 1/2 finished.");
  assert.equal(
    rankExitText({ ...e, status: "stopped", stop_reason: "--max-steps 3" }, undefined),
    "rank 1 was stopped by tensorpeek: --max-steps 3.",
  );
});
