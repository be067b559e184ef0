/**
 * The wire formats the extension reads from the debuggee's agent (`tensorpeek.agent.request`).
 * The Python side writes them once (`tensorpeek/protocol.py` → `docs/snapshot.schema.json`);
 * this file mirrors them as codecs, and `test/unit/schema.test.ts` checks the two agree.
 */
import { array, bool, int, literal, nullable, num, object, record, str, unknownValue, type Infer } from "./codec";

export const PROTOCOL_VERSION = 1;

export const histogramCodec = object(
  { edges: array(num), counts: array(num), sampled: bool, sample_size: nullable(int) },
  ["sampled", "sample_size"],
);

export const summaryCodec = object({
  shape: array(int),
  dtype: str,
  device: str,
  numel: int,
  nbytes: int,
  requires_grad: bool,
  nan: int,
  posinf: int,
  neginf: int,
  zeros: int,
  finite: int,
  min: nullable(num),
  max: nullable(num),
  mean: nullable(num),
  std: nullable(num),
  norm: nullable(num),
  absmean: nullable(num),
  hist: nullable(histogramCodec),
});
export type TensorSummary = Infer<typeof summaryCodec>;

export const hitCodec = object(
  {
    breakpoint: nullable(int),
    spec: unknownValue,
    module: str,
    module_class: str,
    site: str,
    step: int,
    condition: str,
    origin: bool,
    param: nullable(str),
    summary: summaryCodec,
    inputs: array(summaryCodec),
  },
  ["breakpoint", "spec", "param", "inputs"],
);
export type Hit = Infer<typeof hitCodec>;

export const frameTensorCodec = object({ name: str, expression: str, summary: summaryCodec });
export type FrameTensor = Infer<typeof frameTensorCodec>;

export const historyPointCodec = object({ step: int, summary: summaryCodec });
export const layerCodec = object(
  {
    module: str,
    module_class: nullable(str),
    sites: record(historyPointCodec),
    history: record(array(historyPointCodec)),
  },
  ["module_class", "history"],
);
export type LayerRow = Infer<typeof layerCodec>;

export const breakpointInfoCodec = object(
  { id: int, spec: str, enabled: bool, hit_count: int },
);
export type BreakpointInfo = Infer<typeof breakpointInfoCodec>;

export const snapshotCodec = object(
  {
    version: int,
    hit: nullable(hitCodec),
    tensors: array(frameTensorCodec),
    layers: array(layerCodec),
    breakpoints: array(breakpointInfoCodec),
    truncated: bool,
  },
  ["truncated"],
);
export type Snapshot = Infer<typeof snapshotCodec>;

export const replyCodec = object(
  {
    version: int,
    ok: bool,
    result: unknownValue,
    error: object({ message: str }),
  },
  ["result", "error"],
);

export const agentMethods = ["snapshot", "detail", "set_breakpoints", "breakpoints", "modules"] as const;
export type AgentMethod = (typeof agentMethods)[number];

export const renderKinds = ["histogram", "heatmap", "channels", "layers", "timeseries"] as const;
export type RenderKind = (typeof renderKinds)[number];

/** `detail` returns render payloads keyed by kind; which kinds are present depends on the tensor. */
export const detailCodec = object(
  { name: str, summary: summaryCodec, histogram: unknownValue, heatmap: unknownValue, channels: unknownValue },
  ["summary", "histogram", "heatmap", "channels"],
);
export type Detail = Infer<typeof detailCodec>;

export const siteCodec = literal("input", "output", "grad_input", "grad_output", "param_grad", "param");

export const setBreakpointsResultCodec = object(
  { breakpoints: array(breakpointInfoCodec), errors: array(object({ index: int, message: str })) },
  ["errors"],
);

export const modulesResultCodec = object({ modules: array(str) });

export function isNonFinite(s: TensorSummary): boolean {
  return s.nan + s.posinf + s.neginf > 0;
}
