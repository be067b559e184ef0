/** The Tensor panel's state, ordering and text — what the page renders from. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { banner, initialState, reduce, sortedTensors } from "../../src/webview/state";
import type { FrameTensor, Hit, Snapshot, TensorSummary } from "../../src/wire/protocol";
import { formatNumber, hoverLine, sparkline, trendline } from "../../src/wire/summaryText";
import { summary } from "../fixtures/snapshots";

const t = (name: string, over: Partial<TensorSummary> = {}): FrameTensor => ({ name, expression: name, summary: summary(over) });

function snapshot(tensors: FrameTensor[], hit: Hit | null = null): Snapshot {
  return { version: 1, hit, tensors, layers: [], breakpoints: [], truncated: false };
}

test("by default tensors with NaN/Inf come first, then the agent's order", () => {
  const tensors = [t("a"), t("b", { nan: 2 }), t("c"), t("d", { posinf: 1, nan: 3 })];
  assert.deepEqual(
    sortedTensors(tensors, initialState.sortKey, initialState.descending).map((x) => x.name),
    ["d", "b", "a", "c"],
  );
});

test("sorting by a statistic puts null and NaN below every number, and the sort is stable", () => {
  const tensors = [t("a", { max: 3 }), t("b", { max: null }), t("c", { max: "nan" }), t("d", { max: "inf" }), t("e", { max: 3 })];
  assert.deepEqual(
    sortedTensors(tensors, "max", true).map((x) => x.name),
    ["d", "a", "e", "b", "c"],
  );
  assert.deepEqual(
    sortedTensors(tensors, "max", false).map((x) => x.name),
    ["b", "c", "a", "e", "d"],
  );
});

test("clicking the active sort column flips the direction; another column starts ascending", () => {
  let s = reduce(initialState, { type: "sort", key: "name" });
  assert.deepEqual([s.sortKey, s.descending], ["name", false]);
  s = reduce(s, { type: "sort", key: "name" });
  assert.deepEqual([s.sortKey, s.descending], ["name", true]);
});

test("a new snapshot keeps the selected tensor when it is still in the frame and drops old pictures", () => {
  let s = reduce(initialState, { type: "snapshot", snapshot: snapshot([t("x"), t("y")]), session: "train" });
  s = reduce(s, { type: "select", name: "y" });
  s = reduce(s, { type: "pictures", target: { tensor: "y" }, pictures: [] });
  assert.ok("tensor:y" in s.pictures);
  const kept = reduce(s, { type: "snapshot", snapshot: snapshot([t("y")]), session: "train" });
  assert.equal(kept.selected, "y");
  assert.deepEqual(kept.pictures, {});
  const dropped = reduce(s, { type: "snapshot", snapshot: snapshot([t("z")]), session: "train" });
  assert.equal(dropped.selected, null);
});

test("the banner says module, site, step, condition and origin", () => {
  const hit: Hit = {
    breakpoint: 1,
    spec: {},
    module: "fc2",
    module_class: "Linear",
    site: "output",
    step: 3,
    condition: "nonfinite",
    origin: true,
    param: null,
    label: "fc2 output",
    deferred: false,
    summary: summary({ nan: 4 }),
    inputs: [],
  };
  const b = banner(hit);
  assert.equal(b.title, "Tensor breakpoint: fc2 output at step 3");
  assert.deepEqual(Object.fromEntries(b.facts).module, "fc2 (Linear)");
  assert.match(Object.fromEntries(b.facts).where, /^origin/);
  assert.ok(b.bad);
  assert.match(Object.fromEntries(banner({ ...hit, origin: false, module: "" }).facts).where, /^propagated/);
  assert.equal(banner({ ...hit, module: "" }).title, "Tensor breakpoint: the root module output at step 3");
  assert.equal(banner(null).title, "Paused (not at a tensor breakpoint)");
  assert.equal(Object.fromEntries(b.facts).rank, undefined); // one process: no rank fact
});

test("in a torchrun job the banner names this rank and the job's first bad rank", () => {
  const hit: Hit = {
    breakpoint: 1,
    spec: {},
    module: "fc2",
    module_class: "Linear",
    site: "output",
    step: 5,
    condition: "nonfinite",
    origin: true,
    param: null,
    label: "",
    deferred: false,
    summary: summary({ nan: 4 }),
    inputs: [],
    rank: 0,
    world_size: 2,
    local_rank: 0,
    host: "node7",
    rank_seq: 2,
    first: { kind: "hit", rank: 1, step: 3, module: "blocks.3.attn", site: "output", seq: 1 },
  };
  const facts = Object.fromEntries(banner(hit).facts);
  assert.equal(facts.rank, "0 of 2 on node7");
  assert.equal(facts["first bad rank"], "rank 1, step 3, blocks.3.attn output");
  const own = Object.fromEntries(banner({ ...hit, first: { rank: 0, step: 5, module: "", site: "input" } }).facts);
  assert.equal(own["first bad rank"], "this rank (rank 0), step 5, the root module input");
  assert.equal(Object.fromEntries(banner({ ...hit, first: { kind: "crashed", rank: 1, step: null } }).facts)["first bad rank"], undefined);
});

test("numbers: 4 significant digits, exponents far from 1, the special strings by name", () => {
  assert.deepEqual(
    [0.123456, 1234.5678, 123456, 0.0001234, -2, 0, null, "nan", "inf", "-inf"].map((v) => formatNumber(v as never)),
    ["0.1235", "1235", "1.23e+5", "1.23e-4", "-2", "0", "—", "nan", "inf", "-inf"],
  );
});

test("sparklines scale to the largest count and keep empty bins visible", () => {
  assert.equal(sparkline([0, 1, 2, 4, 8]), " ▁▂▄█");
  assert.equal(sparkline([0, 0]), "");
  assert.equal(trendline([1, 2, 3, null, Number.POSITIVE_INFINITY]), "▁▄█ !");
});

test("the hover line carries shape, range, moments, non-finite count and histogram", () => {
  assert.equal(hoverLine(t("h", { nan: 2, finite: 4 })), "h: tensor[2, 3] float32 x∈[-1, 1] μ=0 σ=0.5 NaN/Inf=2 ██");
});
