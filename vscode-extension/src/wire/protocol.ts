/**
 * The wire formats the extension reads from the debuggee's agent (`tensorpeek.agent.request`).
 * The Python side defines them once (`tensorpeek/agent/protocol.py`, exported to
 * `docs/snapshot.schema.json`, explained in `docs/snapshot.md`); this file mirrors them as
 * codecs and `test/unit/schema.test.ts` checks every codec against that schema.
 */
import {
  array,
  bool,
  DecodeError,
  int,
  literal,
  nullable,
  num,
  object,
  record,
  statistic,
  statValue,
  str,
  unknownValue,
  type Infer,
} from "./codec";

export const PROTOCOL_VERSION = 1;

export const histogramCodec = object(
  { edges: array(statistic), counts: array(int), sampled: bool, sample_size: nullable(int), scale: literal("linear", "symlog") },
  ["sampled", "sample_size", "scale"],
);

export const summaryCodec = object(
  {
    shape: array(int),
    dtype: str,
    device: str,
    numel: int,
    nbytes: int,
    requires_grad: bool,
    nan: nullable(int),
    posinf: nullable(int),
    neginf: nullable(int),
    zeros: nullable(int),
    finite: nullable(int),
    min: nullable(statistic),
    max: nullable(statistic),
    mean: nullable(statistic),
    std: nullable(statistic),
    norm: nullable(statistic),
    absmean: nullable(statistic),
    hist: nullable(histogramCodec),
    dtype_short: str,
    nonfinite: nullable(int),
    absmax: nullable(statistic),
    estimated: array(str),
    note: nullable(str),
    label: str,
  },
  ["dtype_short", "nonfinite", "absmax", "estimated", "note", "label"],
);
export type TensorSummary = Infer<typeof summaryCodec>;

export const siteCodec = literal("input", "output", "grad_input", "grad_output", "param_grad", "param");

/** A rank's hit, crash or stop as the job's c10d store holds it (docs/ranks-protocol.md). */
export const rankRecordCodec = object(
  {
    kind: literal("hit", "crashed", "quit", "stopped"),
    rank: int,
    seq: nullable(int),
    step: nullable(int),
    module: nullable(str),
    site: nullable(str),
    message: str,
  },
  ["kind", "rank", "seq", "step", "module", "site", "message"],
);
export type RankRecord = Infer<typeof rankRecordCodec>;

export const hitCodec = object(
  {
    breakpoint: nullable(int),
    spec: record(unknownValue),
    module: str,
    module_class: str,
    site: siteCodec,
    step: int,
    condition: str,
    origin: bool,
    param: nullable(str),
    label: str,
    deferred: bool,
    summary: nullable(summaryCodec),
    inputs: array(summaryCodec),
    note: nullable(str),
    // a multi-rank job (docs/ranks-protocol.md): absent in a single process
    rank: int,
    world_size: int,
    local_rank: int,
    host: str,
    rank_seq: nullable(int),
    first: nullable(rankRecordCodec),
  },
  ["note", "rank", "world_size", "local_rank", "host", "rank_seq", "first"],
);
export type Hit = Infer<typeof hitCodec>;

export const frameTensorCodec = object(
  {
    name: str,
    expression: str,
    summary: summaryCodec,
    aliases: array(str),
    grad: nullable(summaryCodec),
    scope: literal("local", "global"),
  },
  ["aliases", "grad", "scope"],
);
export type FrameTensor = Infer<typeof frameTensorCodec>;

export const historyPointCodec = object({ step: int, stats: record(nullable(statistic)) });
export type HistoryPoint = Infer<typeof historyPointCodec>;

export const layerCodec = object({ module: str, latest: record(historyPointCodec), history: record(array(historyPointCodec)) });
export type LayerRow = Infer<typeof layerCodec>;

export const breakpointInfoCodec = object({ id: int, spec: str, enabled: bool, hit_count: int, error: nullable(str) }, ["error"]);
export type BreakpointInfo = Infer<typeof breakpointInfoCodec>;

export const paramInfoCodec = object({ name: str, summary: summaryCodec, grad: nullable(summaryCodec) }, ["grad"]);
export type ParamInfo = Infer<typeof paramInfoCodec>;

export const paramStatsCodec = object({
  min: nullable(statistic),
  max: nullable(statistic),
  mean: nullable(statistic),
  std: nullable(statistic),
  norm: nullable(statistic),
  nonfinite: nullable(int),
});
export type ParamStats = Infer<typeof paramStatsCodec>;

export const modelParamCodec = object(
  {
    name: str,
    module: str,
    expression: str,
    shape: array(int),
    dtype: str,
    stats: nullable(paramStatsCodec),
    grad: nullable(paramStatsCodec),
  },
  ["grad"],
);
export type ModelParam = Infer<typeof modelParamCodec>;

export const modelModuleCodec = object({ path: str, module_class: str, params: int });
export type ModelModule = Infer<typeof modelModuleCodec>;

export const modelTreeCodec = object({
  root: str,
  module_class: str,
  modules: array(modelModuleCodec),
  params: array(modelParamCodec),
  truncated: bool,
});
export type ModelTree = Infer<typeof modelTreeCodec>;

export const sourceLineCodec = object({ path: str, line: int, function: str });
export type SourceLine = Infer<typeof sourceLineCodec>;

export const snapshotCodec = object(
  {
    version: int,
    hit: nullable(hitCodec),
    tensors: array(frameTensorCodec),
    layers: array(layerCodec),
    breakpoints: array(breakpointInfoCodec),
    truncated: bool,
    hit_line: sourceLineCodec,
    hit_params: array(paramInfoCodec),
    model: modelTreeCodec,
    notes: array(str),
    elapsed_ms: num,
  },
  ["hit_line", "hit_params", "model", "notes", "elapsed_ms"],
);
export type Snapshot = Infer<typeof snapshotCodec>;

export const replyCodec = object({ version: int, ok: bool, result: unknownValue, error: object({ message: str }) }, ["result", "error"]);

export const agentMethods = ["snapshot", "detail", "set_breakpoints", "breakpoints", "modules", "training", "step_layers"] as const;
export type AgentMethod = (typeof agentMethods)[number];

export const renderKinds = ["histogram", "heatmap", "channels", "layers", "timeseries", "batch"] as const;
export type RenderKind = (typeof renderKinds)[number];

/**
 * `detail`: render payloads exactly as `tensorpeek/render` takes them (heatmap and channels
 * when they apply). The extension forwards them unread, so they stay opaque here.
 */
export const detailCodec = object(
  { name: str, summary: summaryCodec, histogram: unknownValue, heatmap: unknownValue, channels: unknownValue, notes: array(str) },
  ["heatmap", "channels", "notes"],
);
export type Detail = Infer<typeof detailCodec>;

export const setBreakpointsResultCodec = object({
  applied: bool,
  breakpoints: array(breakpointInfoCodec),
  errors: array(object({ index: int, message: str })),
});

export const modulesResultCodec = object({ modules: array(str), source: literal("live", "frame", "none") });

/** One point of a curve: `[step, value]` (docs/training-protocol.md). */
export type CurvePoint = [number, number];

const curvePointCodec = {
  describe: array(statistic).describe,
  decode(value: unknown, path = ""): CurvePoint {
    const pair = array(nullable(statistic)).decode(value, path);
    const step = pair[0];
    if (pair.length !== 2 || typeof step !== "number" || !Number.isInteger(step)) {
      throw new DecodeError(path, `expected [step, value], got ${JSON.stringify(value)}`);
    }
    return [step, statValue(pair[1]) ?? Number.NaN];
  },
};

export const healthCodec = literal("origin", "propagated", "dead", "vanishing", "healthy", "unknown");
export type Health = Infer<typeof healthCodec>;

export const graphNodeCodec = object({ id: str, label: str, type: str, health: healthCodec });
export type GraphNode = Infer<typeof graphNodeCodec>;

export const graphEdgeCodec = object({ source: str, target: str, kind: literal("module", "functional"), label: str }, ["label"]);
export type GraphEdge = Infer<typeof graphEdgeCodec>;

export const moduleGraphCodec = object({ nodes: array(graphNodeCodec), edges: array(graphEdgeCodec) });
export type ModuleGraph = Infer<typeof moduleGraphCodec>;

/**
 * A layer whose update ratio (or gradient norm) jumped first before a spike, `value` at `step`
 * against the `median` of its own earlier values (`training/analysis.py` `movers`).
 */
export const moverCodec = object({ layer: str, scalar: str, step: int, value: statistic, median: statistic });
export type Mover = Infer<typeof moverCodec>;

/** A loss spike; `moved` lists the layers that moved first (absent from an older agent). */
export const spikeCodec = object({ step: int, scalar: str, value: statistic, median: nullable(statistic), moved: array(moverCodec) }, [
  "moved",
]);
export type Spike = Infer<typeof spikeCodec>;

/** `training`: the captured curves (loss, lr, lr/1, grad_norm, logged metrics), spikes and the module graph. */
export const trainingCodec = object({
  step: nullable(int),
  scalars: record(array(curvePointCodec)),
  spikes: array(spikeCodec),
  graph: nullable(moduleGraphCodec),
});
export type Training = Infer<typeof trainingCodec>;

/** `step_layers`: the layer table as it was at one recorded step. */
export const stepLayersCodec = object({ step: int, layers: array(layerCodec) });
export type StepLayers = Infer<typeof stepLayersCodec>;

/** The codecs the schema test checks, by the schema's `$defs` name. */
export const codecsBySchemaName = {
  HistogramInfo: histogramCodec,
  Summary: summaryCodec,
  HitInfo: hitCodec,
  RankRecord: rankRecordCodec,
  FrameTensor: frameTensorCodec,
  HistoryPoint: historyPointCodec,
  Layer: layerCodec,
  BreakpointInfo: breakpointInfoCodec,
  SourceLine: sourceLineCodec,
  ParamInfo: paramInfoCodec,
  ParamStats: paramStatsCodec,
  ModelParam: modelParamCodec,
  ModelModule: modelModuleCodec,
  ModelTree: modelTreeCodec,
  Snapshot: snapshotCodec,
  Reply: replyCodec,
  DetailResult: detailCodec,
  SetBreakpointsResult: setBreakpointsResultCodec,
  ModulesResult: modulesResultCodec,
  GraphNode: graphNodeCodec,
  GraphEdge: graphEdgeCodec,
  ModuleGraph: moduleGraphCodec,
  Mover: moverCodec,
  Spike: spikeCodec,
  TrainingResult: trainingCodec,
  StepLayersResult: stepLayersCodec,
};

export function nonFiniteCount(s: TensorSummary): number {
  return s.nonfinite ?? (s.nan ?? 0) + (s.posinf ?? 0) + (s.neginf ?? 0);
}

export function isNonFinite(s: TensorSummary): boolean {
  return nonFiniteCount(s) > 0;
}
