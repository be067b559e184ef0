/**
 * A `tensorpeek` launch configuration with `"nprocPerNode": N` is a torchrun job: this file is
 * the pure part of it (no `vscode`, no processes), so node tests cover every rule. It checks
 * the configuration, builds the `python -m torch.distributed.run ... -m tensorpeek.cli.debug_ranks`
 * command line, reads the ranks' report lines and builds each rank's attach configuration.
 */
import type { DebugConfiguration } from "vscode";

/** More rank sessions than this in one window is a typo, not a debugging session. */
export const MAX_NPROC_PER_NODE = 64;
/** The Python module each rank runs under torchrun (`py_backend/tensorpeek/cli/debug_ranks.py`). */
export const RANK_LAUNCHER = "tensorpeek.cli.debug_ranks";
export const LOOPBACK = "127.0.0.1";

/** torchrun options the job sets itself: passing them in `torchrunArgs` would contradict it. */
const OWNED_OPTIONS = ["--nproc-per-node", "--nproc_per_node", "-m", "--module", "--no-python", "--no_python", "--run-path", "--run_path"];
/** With any of these the user chose the rendezvous; otherwise the job runs `--standalone` (a free port). */
const RENDEZVOUS_OPTIONS = [
  "--standalone",
  "--rdzv-endpoint",
  "--rdzv_endpoint",
  "--master-port",
  "--master_port",
  "--master-addr",
  "--master_addr",
  "--nnodes",
];

/** What a rank job runs: the checked fields of its launch configuration. */
export interface RankJob {
  nprocPerNode: number;
  program: string;
  args: string[];
  torchrunArgs: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  justMyCode: boolean;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

/** Whether a launch configuration asks for a torchrun job at all (it has the key, whatever its value). */
export function isRankJob(config: DebugConfiguration): boolean {
  return config.request === "launch" && "nprocPerNode" in config;
}

function optionName(arg: string): string {
  return arg.split("=", 1)[0];
}

function stringArray(value: unknown, key: string): Checked<string[]> {
  if (value === undefined) return { ok: true, value: [] };
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
    return { ok: false, error: `"${key}" must be an array of strings, e.g. ["--max-restarts", "0"]` };
  return { ok: true, value: value as string[] };
}

/** The number of ranks, or why it is not one ("nothing is launched" follows from the error). */
export function checkNprocPerNode(value: unknown): Checked<number> {
  const shown = JSON.stringify(value) ?? String(value);
  if (typeof value !== "number" || !Number.isFinite(value))
    return { ok: false, error: `"nprocPerNode" must be a whole number of ranks (1 to ${MAX_NPROC_PER_NODE}), not ${shown}` };
  if (!Number.isInteger(value)) return { ok: false, error: `"nprocPerNode" must be a whole number of ranks, not ${shown}` };
  if (value < 1) return { ok: false, error: `"nprocPerNode" must be at least 1 (one process per rank), not ${shown}` };
  if (value > MAX_NPROC_PER_NODE)
    return {
      ok: false,
      error: `"nprocPerNode" ${shown} is more ranks than one window can debug: each rank is a debug session (at most ${MAX_NPROC_PER_NODE})`,
    };
  return { ok: true, value };
}

/** The launch configuration as a rank job, or the first thing wrong with it. */
export function checkRankJob(config: DebugConfiguration): Checked<RankJob> {
  const n = checkNprocPerNode(config.nprocPerNode);
  if (!n.ok) return n;
  if (typeof config.program !== "string" || config.program.trim() === "")
    return { ok: false, error: `a job with "nprocPerNode" needs "program": the training script every rank runs` };
  if (config.module !== undefined) return { ok: false, error: `"module" is not supported with "nprocPerNode"; use "program" (a script)` };
  const args = stringArray(config.args, "args");
  if (!args.ok) return args;
  const torchrunArgs = stringArray(config.torchrunArgs, "torchrunArgs");
  if (!torchrunArgs.ok) return torchrunArgs;
  const owned = torchrunArgs.value.find((a) => OWNED_OPTIONS.includes(optionName(a)));
  if (owned)
    return { ok: false, error: `"torchrunArgs" may not contain ${owned}: the job sets it (use "nprocPerNode" for the rank count)` };
  const env = config.env ?? {};
  if (typeof env !== "object" || Array.isArray(env) || Object.values(env).some((v) => typeof v !== "string"))
    return { ok: false, error: `"env" must map names to strings` };
  if (config.cwd !== undefined && typeof config.cwd !== "string") return { ok: false, error: `"cwd" must be a folder path` };
  return {
    ok: true,
    value: {
      nprocPerNode: n.value,
      program: config.program,
      args: args.value,
      torchrunArgs: torchrunArgs.value,
      cwd: config.cwd as string | undefined,
      env: env as Record<string, string>,
      justMyCode: config.justMyCode !== false,
    },
  };
}

/** The arguments after `python`: torchrun's options, then the rank launcher, the script and its arguments. */
export function torchrunArgv(job: RankJob, reportPort: number): string[] {
  const rendezvous = job.torchrunArgs.some((a) => RENDEZVOUS_OPTIONS.includes(optionName(a))) ? [] : ["--standalone"];
  return [
    "-m",
    "torch.distributed.run",
    "--nproc-per-node",
    String(job.nprocPerNode),
    ...rendezvous,
    ...job.torchrunArgs,
    "-m",
    RANK_LAUNCHER,
    "--report",
    `${LOOPBACK}:${reportPort}`,
    job.program,
    ...job.args,
  ];
}

/** A rank said where its debugpy listens. */
export interface RankListening {
  event: "listening";
  rank: number;
  local_rank: number;
  world_size: number;
  host: string;
  port: number;
  pid: number;
}

/** A rank's script ended (`status`: completed, failed, stopped or interrupted). */
export interface RankExit {
  event: "exit";
  rank: number;
  status: string;
  exit_code: number;
  error: string | null;
  stop_reason: string | null;
}

export type RankReport = RankListening | RankExit;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isText = (v: unknown): v is string => typeof v === "string";
const isTextOrNull = (v: unknown): v is string | null => v === null || v === undefined || typeof v === "string";

/** One report line from a rank, checked field by field (a line that is not one is an error). */
export function parseRankReport(line: string): Checked<RankReport> {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { ok: false, error: `not JSON: ${line.slice(0, 80)}` };
  }
  if (typeof v !== "object" || v === null) return { ok: false, error: `not an object: ${line.slice(0, 80)}` };
  if (v.event === "listening") {
    if (![v.rank, v.local_rank, v.world_size, v.port, v.pid].every(isInt) || v.host !== LOOPBACK)
      return { ok: false, error: `a bad listening report: ${line.slice(0, 120)}` };
    return { ok: true, value: v as unknown as RankListening };
  }
  if (v.event === "exit") {
    if (!isInt(v.rank) || !isText(v.status) || !isInt(v.exit_code) || !isTextOrNull(v.error) || !isTextOrNull(v.stop_reason))
      return { ok: false, error: `a bad exit report: ${line.slice(0, 120)}` };
    return { ok: true, value: { ...(v as unknown as RankExit), error: v.error ?? null, stop_reason: v.stop_reason ?? null } };
  }
  return { ok: false, error: `an unknown report: ${line.slice(0, 80)}` };
}

/** What a rank session carries in its configuration, so the extension knows which rank it is. */
export interface RankIdentity {
  rank: number;
  localRank: number;
  worldSize: number;
  job: string; // the parent (torchrun job) session's id
}

export function rankSessionName(rank: number): string {
  return `rank ${rank}`;
}

/** The child session that attaches to one rank's debugpy (loopback only). */
export function rankAttachConfig(job: RankJob, listening: RankListening, jobSessionId: string): DebugConfiguration {
  const identity: RankIdentity = {
    rank: listening.rank,
    localRank: listening.local_rank,
    worldSize: listening.world_size,
    job: jobSessionId,
  };
  return {
    type: "tensorpeek",
    request: "attach",
    name: rankSessionName(listening.rank),
    connect: { host: LOOPBACK, port: listening.port },
    justMyCode: job.justMyCode,
    tensorpeekRank: identity,
  };
}

/** The rank identity of a session's configuration, if it is a rank session. */
export function rankIdentityOf(config: DebugConfiguration): RankIdentity | undefined {
  const r = config.tensorpeekRank as Partial<RankIdentity> | undefined;
  if (!r || !isInt(r.rank) || !isInt(r.worldSize) || !isText(r.job)) return undefined;
  return { rank: r.rank, localRank: isInt(r.localRank) ? r.localRank : r.rank, worldSize: r.worldSize, job: r.job };
}

/** One line for the job's console when a rank's script ended. */
export function rankExitText(e: RankExit, worldSize: number | undefined): string {
  const who = worldSize ? `rank ${e.rank}/${worldSize}` : `rank ${e.rank}`;
  if (e.status === "completed" && e.exit_code === 0) return `${who} finished.`;
  if (e.status === "stopped") return `${who} was stopped by tensorpeek${e.stop_reason ? `: ${e.stop_reason}` : ""}.`;
  if (e.status === "interrupted") return `${who} was interrupted.`;
  return `${who} failed with exit code ${e.exit_code}${e.error ? `: ${e.error}` : ""}.`;
}
