"""The wire format between the VS Code extension and ``tensorpeek.agent`` (version 1).

The extension sends one JSON request per DAP ``evaluate``::

    {"version": 1, "method": "snapshot", "params": {...}}

and gets back ``{"version": 1, "ok": true, "result": ...}`` or
``{"version": 1, "ok": false, "error": {"message": ...}}``. The TypedDicts below are the one
definition of every message; ``tensorpeek.agent.schema`` exports them to
``docs/snapshot.schema.json`` (the extension's TypeScript codecs are checked against that
file) and ``docs/snapshot.md`` explains them.

A summary (``Summary``) is ``tensorpeek.summary.TensorSummary.to_dict()``: the keys listed
here are the contract, further keys may appear. Non-finite floats are written as the strings
``"nan"``, ``"inf"``, ``"-inf"`` (JSON has no such numbers); statistics over finite values are
``null`` when there are none.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

PROTOCOL_VERSION = 1
DEFAULT_MAX_BYTES = 256 * 1024  # default reply budget; a request may ask for more
HARD_MAX_BYTES = 64 * 1024 * 1024  # no request may ask for more than this

Method = Literal[
    "snapshot",
    "detail",
    "set_breakpoints",
    "breakpoints",
    "modules",
    "training",
    "step_layers",
    "whole_summary",
]
Site = Literal["input", "output", "grad_input", "grad_output", "param_grad", "param"]
Number = float | int | str  # str: "nan", "inf", "-inf"


# -- envelope --------------------------------------------------------------------------------


class Request(TypedDict):
    version: int
    method: Method
    params: dict[str, Any]


class ErrorInfo(TypedDict):
    message: str


class _ReplyBase(TypedDict):
    version: int
    ok: bool


class Reply(_ReplyBase, total=False):
    result: Any  # one of the *Result types below, by method
    error: ErrorInfo  # present exactly when ok is false


# -- summaries -------------------------------------------------------------------------------


class _HistogramInfoBase(TypedDict):
    edges: list[Number]  # len(counts) + 1 bin edges (empty when there are no finite values)
    counts: list[int]


class HistogramInfo(_HistogramInfoBase, total=False):
    sampled: bool  # counts come from a uniform sample of sample_size elements
    sample_size: int | None
    scale: Literal["linear", "symlog"]


class _SummaryBase(TypedDict):
    shape: list[int]
    dtype: str
    device: str
    numel: int
    nbytes: int
    requires_grad: bool
    nan: int | None  # counts are null only when values cannot be read (meta tensors)
    posinf: int | None
    neginf: int | None
    zeros: int | None
    finite: int | None
    min: Number | None
    max: Number | None
    mean: Number | None
    std: Number | None
    norm: Number | None
    absmean: Number | None
    hist: HistogramInfo | None


class Summary(_SummaryBase, total=False):
    dtype_short: str
    layout: str
    container: Literal["tensor", "parameter", "ndarray"]
    nonfinite: int | None
    absmax: Number | None
    quick: bool  # computed in quick mode (see ``estimated``)
    estimated: list[str]  # fields estimated from a sample
    note: str | None  # why values are missing, when they are
    label: str  # which tensor this is, in a list of summaries (e.g. "grad_output[0]")


# -- snapshot --------------------------------------------------------------------------------


class _HitInfoBase(TypedDict):
    breakpoint: int | None
    spec: dict[str, Any]  # the breakpoint's JSON form
    module: str  # module path; "" is the root
    module_class: str
    site: Site
    step: int
    condition: str
    origin: bool  # True: the condition starts here; False: propagated from upstream
    param: str | None  # parameter name for param_grad / param sites
    label: str
    deferred: bool
    summary: Summary | None  # the offending tensor
    inputs: list[Summary]  # what flowed into the module (or the incoming gradients)


class RankRecord(TypedDict, total=False):
    """A rank's hit, crash or stop as the job's c10d store holds it (``docs/ranks-protocol.md``)."""

    kind: Literal["hit", "crashed", "quit", "stopped"]
    rank: int
    world_size: int
    local_rank: int
    host: str
    pid: int
    seq: int | None  # the global sequence number (store.add): the order events reached the store
    step: int | None
    module: str | None
    module_class: str | None
    site: str | None
    param: str | None
    condition: str | None
    spec: str | None
    action: str | None  # debugger, pdb, raise, log, record (hits only)
    pauses: bool  # the rank stays alive, paused (debugger / pdb)
    time: float  # seconds since the epoch
    error: str | None  # a crash's exception, "ValueError: ..."
    message: str  # one readable line


class HitInfo(_HitInfoBase, total=False):
    """Why a tensor breakpoint paused the program (``tensorpeek.Hit.to_dict()``)."""

    note: str | None  # why this is the origin, when the verdict needs explaining
    # only in a multi-rank job (torchrun): this rank and the job's first bad record
    rank: int
    world_size: int
    local_rank: int
    host: str
    rank_seq: int | None  # this hit's sequence number in the store (a rank's first hit only)
    first: RankRecord | None  # the job's first bad hit as known at this hit


class RankInfo(TypedDict):
    """This process's rank in a multi-rank job, and what its peers did."""

    rank: int
    world_size: int
    local_rank: int
    host: str
    stopped_by: RankRecord | None  # the peer's stop that paused or ended this rank, if any
    first: RankRecord | None  # the job's first bad hit, as this rank last read it


class SourceLine(TypedDict):
    """A line of the user's code (``tensorpeek.engine.pause.paused_at``)."""

    path: str  # absolute path in the debuggee's file system
    line: int  # 1-based
    function: str


class _FrameTensorBase(TypedDict):
    name: str  # display name, e.g. "self.fc.weight", "batch['x']", "outs[0]"
    expression: str  # a path ``detail`` accepts (same text as name)
    summary: Summary


class FrameTensor(_FrameTensorBase, total=False):
    aliases: list[str]  # other names reaching the same tensor
    grad: Summary | None  # summary of ``.grad`` when it is set
    scope: Literal["local", "global"]  # global: reached from a module global (maybe from an
    # earlier step); absent: the function's own locals


class _ParamInfoBase(TypedDict):
    name: str  # the parameter's name in the hit's module (named_parameters())
    summary: Summary


class ParamInfo(_ParamInfoBase, total=False):
    grad: Summary | None  # summary of ``.grad`` when it is set


class ParamStats(TypedDict):
    """The few statistics a model row shows (from the quick summary)."""

    min: Number | None
    max: Number | None
    mean: Number | None
    std: Number | None
    norm: Number | None
    nonfinite: int | None  # NaN + Inf count


class _ModelParamBase(TypedDict):
    name: str  # named_parameters() name under the root: "features.0.weight"
    module: str  # the module holding it: "features.0"
    expression: str  # a path ``detail`` accepts: "model.features[0].weight"
    shape: list[int]
    dtype: str
    stats: ParamStats | None  # null: left out once the time budget was spent


class ModelParam(_ModelParamBase, total=False):
    grad: ParamStats | None  # statistics of ``.grad`` when it is set


class ModelModule(TypedDict):
    path: str  # named_modules() path; "" is the root
    module_class: str
    params: int  # parameters held by this module itself (not its children)


class ModelTree(TypedDict):
    """The biggest model reachable from the frame, at every depth (bounded)."""

    root: str  # the frame path that reaches it: "model", "self"
    module_class: str
    modules: list[ModelModule]  # named_modules() order
    params: list[ModelParam]  # named_parameters() order, at most 500
    truncated: bool  # parameters or modules past the caps were left out


class HistoryPoint(TypedDict):
    step: int
    stats: dict[str, Number | None]  # the statistics recorded at that step (a subset)


class Layer(TypedDict):
    """One watched module: its latest statistics per site and their recent history."""

    module: str
    latest: dict[str, HistoryPoint]  # site -> last point
    history: dict[str, list[HistoryPoint]]  # site -> points, oldest first


class _BreakpointInfoBase(TypedDict):
    id: int
    spec: str  # "TARGET:SITE:CONDITION"
    enabled: bool
    hit_count: int


class BreakpointInfo(_BreakpointInfoBase, total=False):
    error: str | None  # set when a run-time evaluation error disabled it
    definition: dict[str, Any]  # the JSON form with every option


class _SnapshotBase(TypedDict):
    version: int
    hit: HitInfo | None  # null: stopped by an ordinary (line) breakpoint or a step
    tensors: list[FrameTensor]
    layers: list[Layer]  # in the model's named_modules() order when known
    breakpoints: list[BreakpointInfo]
    truncated: bool  # something was left out to respect the caps or max_bytes


class Snapshot(_SnapshotBase, total=False):
    hit_line: SourceLine  # the user's line the hit came from (the editor opens it)
    hit_params: list[ParamInfo]  # the hit module's parameters and gradients (at most 32)
    model: ModelTree  # the model in the frame as a tree, when there is one
    rank: RankInfo  # only in a multi-rank job (torchrun)
    notes: list[str]  # what was left out or unavailable, in words
    elapsed_ms: float  # time the agent spent building this snapshot


class SnapshotParams(TypedDict, total=False):
    max_tensors: int  # default 200
    max_depth: int  # default 2 (self.fc.weight is depth 2)
    bins: int  # histogram bins per tensor, default 32
    history: int  # history points per (module, site), default 16
    max_bytes: int  # reply budget, default 262144
    time_budget_ms: int  # summarising time, default 800; later tensors are left out


# -- detail (render payloads, as tensorpeek.render takes them) ------------------------------


class HistogramPayload(Summary, total=False):
    name: str


class HeatmapPayload(TypedDict):
    name: str
    shape: list[int]  # [rows, cols] of the data shown (N-D data is viewed as 2-D)
    block: list[int]  # [block_rows, block_cols] reduced into one cell
    mean: list[list[float | None]]  # null: no finite value in the block
    min: list[list[float | None]]
    max: list[list[float | None]]


class Channel(TypedDict):
    index: int
    data: list[list[float | None]]  # block means, at most max_side x max_side
    min: float | None
    max: float | None


class ChannelsPayload(TypedDict):
    name: str
    shape: list[int]
    batch_index: int
    channels: list[Channel]


class _DetailBase(TypedDict):
    name: str
    summary: Summary
    histogram: HistogramPayload


class DetailResult(_DetailBase, total=False):
    heatmap: HeatmapPayload  # 2-D and higher (viewed as rows x last dim)
    channels: ChannelsPayload  # image-like: C x H x W or N x C x H x W with C in 1, 3, 4
    notes: list[str]


class _DetailParamsBase(TypedDict):
    expression: str  # a path: name(.attr | [int] | ['key'])*


class DetailParams(_DetailParamsBase, total=False):
    bins: int  # default 128
    heatmap_size: int  # cells per side, default 64, at most 256
    batch_index: int  # which image of a batch, default 0
    max_bytes: int


# -- breakpoints and modules -----------------------------------------------------------------


class SpecErrorInfo(TypedDict):
    index: int  # position in the request's specs list
    message: str


class SetBreakpointsParams(TypedDict):
    specs: list[str | dict[str, Any]]  # replaces every breakpoint; nothing changes on error


class BreakpointsResult(TypedDict):
    breakpoints: list[BreakpointInfo]


class SetBreakpointsResult(TypedDict):
    applied: bool  # false when any spec was invalid (then nothing changed)
    breakpoints: list[BreakpointInfo]  # the breakpoints now armed
    errors: list[SpecErrorInfo]


class ModulesResult(TypedDict):
    modules: list[str]  # module paths, named_modules() order; "" is the root
    source: Literal["live", "frame", "none"]  # last forward seen, or modules found in the frame


# -- training (docs/training-protocol.md) ----------------------------------------------------


class GraphNode(TypedDict):
    id: str  # module path; "" is the root, standing for the model's inputs
    label: str
    type: str  # the module's class name
    health: Literal["origin", "propagated", "dead", "vanishing", "healthy", "unknown"]


class _GraphEdgeBase(TypedDict):
    source: str
    target: str
    kind: Literal["module", "functional"]


class GraphEdge(_GraphEdgeBase, total=False):
    label: str  # the functional operation after the source ("add", "view"); functional only


class ModuleGraph(TypedDict):
    """Which leaf module's output feeds which, from one traced forward pass."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class Mover(TypedDict):
    """A layer whose update ratio (or gradient norm) jumped first before a spike."""

    layer: str
    scalar: str  # "update_ratio" or "grad_norm"
    step: int
    value: Number
    median: Number  # the layer's running median it was judged against


class _SpikeBase(TypedDict):
    step: int
    scalar: str  # "loss"
    value: Number
    median: Number | None  # the running median it was judged against


class Spike(_SpikeBase, total=False):
    moved: list[Mover]  # the layers that moved first (doctor's rule); absent in older agents


class TrainingResult(TypedDict):
    step: int | None  # the current step; null before any was seen
    scalars: dict[str, list[list[Number]]]  # name -> [[step, value], ...], steps ascending
    spikes: list[Spike]
    graph: ModuleGraph | None  # null until a forward pass was traced


class TrainingParams(TypedDict, total=False):
    max_points: int  # points per series, default 1000 (evenly thinned, the last one kept)
    max_bytes: int


class StepLayersParams(TypedDict):
    step: int


class StepLayersResult(TypedDict):
    step: int
    layers: list[Layer]  # the snapshot's row shape, as of that step


# -- the whole sharded tensor (a torchrun job, at a pause) ------------------------------------


class WholeSummaryParams(TypedDict, total=False):
    expression: str  # a frame path to a DTensor parameter or its .grad (as ``detail`` takes)
    param: str  # or its path under the model, e.g. "0.weight" (with ".grad", or grad: true)
    grad: bool  # with ``param``: that parameter's gradient
    bins: int  # default 32, at most 16384
    timeout_ms: int  # each phase of the exchange with the peers, default 10000
    max_bytes: int


class WholeRank(TypedDict):
    """What one rank of the tensor's mesh said when its shard was read."""

    rank: int
    state: Literal["paused", "waiting", "running"]  # its main thread at that moment
    step: int | None
    contributes: bool | None  # false for a replica's copy (a Replicate mesh dimension)
    local_shape: list[int] | None


class WholeSummaryResult(TypedDict):
    name: str  # the parameter path, with ".grad" for a gradient
    summary: Summary  # the whole tensor's (``note`` says how it was combined)
    ranks: list[WholeRank]  # in mesh order, this rank included
    notes: list[str]  # e.g. a peer that was running, not paused, when it was read


RESULT_TYPES: dict[str, type] = {
    "snapshot": Snapshot,
    "detail": DetailResult,
    "set_breakpoints": SetBreakpointsResult,
    "breakpoints": BreakpointsResult,
    "modules": ModulesResult,
    "training": TrainingResult,
    "step_layers": StepLayersResult,
    "whole_summary": WholeSummaryResult,
}
PARAM_TYPES: dict[str, type] = {
    "snapshot": SnapshotParams,
    "detail": DetailParams,
    "set_breakpoints": SetBreakpointsParams,
    "step_layers": StepLayersParams,
    "training": TrainingParams,
    "whole_summary": WholeSummaryParams,
}
