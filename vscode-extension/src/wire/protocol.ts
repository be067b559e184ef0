/**
 * The wire formats the extension reads from the debuggee's agent (`tensorpeek.agent.request`).
 * The Python side defines them once (`tensorpeek/agent/protocol.py`, exported to
 * `docs/snapshot.schema.json`, explained in `docs/snapshot.md`); this file mirrors them as
 * codecs and `test/unit/schema.test.ts` checks every codec against that schema.
 */
import { array, bool, int, literal, nullable, num, object, record, statistic, str, unknownValue, type Infer } from "./codec";

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
  },
  ["note"],
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

export const agentMethods = ["snapshot", "detail", "set_breakpoints", "breakpoints", "modules"] as const;
export type AgentMethod = (typeof agentMethods)[number];

export const renderKinds = ["histogram", "heatmap", "channels", "layers", "timeseries"] as const;
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

/** The codecs the schema test checks, by the schema's `$defs` name. */
export const codecsBySchemaName = {
  HistogramInfo: histogramCodec,
  Summary: summaryCodec,
  HitInfo: hitCodec,
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
};

export function nonFiniteCount(s: TensorSummary): number {
  return s.nonfinite ?? (s.nan ?? 0) + (s.posinf ?? 0) + (s.neginf ?? 0);
}

export function isNonFinite(s: TensorSummary): boolean {
  return nonFiniteCount(s) > 0;
}
