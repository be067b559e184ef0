/** The arithmetic behind the page's own hit histogram (no DOM): its bins as drawn, its count axis. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { countScale } from "../../src/webview/chartScale";
import { drawnBins, nonFiniteBars } from "../../src/webview/histogramChart";
import { hitTensorName } from "../../src/wire/summaryText";
import { summary } from "../fixtures/snapshots";

test("the count axis starts at 0, rises a little above the tallest bar, and has integer ticks only", () => {
  for (const max of [1, 2, 3, 7, 25, 90, 1234, 5e6]) {
    const s = countScale(max);
    assert.equal(s.lo, 0);
    assert.ok(s.hi > max && s.hi <= max * 1.1, `top ${s.hi} for ${max}`);
    assert.ok(
      s.ticks.every((t) => Number.isInteger(t) && t <= s.hi),
      `${max}: ${s.ticks.join(", ")}`,
    );
    assert.ok(s.ticks.length >= 2 && s.ticks.length <= 7, `${max}: ${s.ticks.length} ticks`);
    assert.equal(s.ticks[0], 0);
  }
  assert.deepEqual(countScale(1).ticks, [0, 1], "one value: no half ticks");
  assert.deepEqual(countScale(0), { lo: 0, hi: 1, ticks: [0, 1] });
});

test("a constant tensor's bin of zero width is widened to a visible bar, as histogram.py's drawn_bins does", () => {
  assert.deepEqual(drawnBins(summary({ hist: { edges: [2, 2], counts: [6] } })), { edges: [1.9, 2.1], counts: [6] });
  assert.deepEqual(drawnBins(summary({ hist: { edges: [0, 0, 0], counts: [4, 2] } })), { edges: [-0.5, 0.5], counts: [6] });
  assert.deepEqual(drawnBins(summary({ hist: { edges: [-1, 0, 1], counts: [3, 3] } })), { edges: [-1, 0, 1], counts: [3, 3] });
  // nothing drawable: no bins, mismatched edges
  assert.deepEqual(drawnBins(summary({ hist: null })), { edges: [], counts: [] });
  assert.deepEqual(drawnBins(summary({ hist: { edges: [0, 1], counts: [1, 2] } })), { edges: [], counts: [] });
});

test("NaN, +Inf and -Inf bars: only those that occur, in that order", () => {
  assert.deepEqual(
    nonFiniteBars(summary({ nan: 0, posinf: 3, neginf: 1 })).map((b) => [b.label, b.count]),
    [
      ["+Inf", 3],
      ["-Inf", 1],
    ],
  );
  assert.deepEqual(nonFiniteBars(summary({ nan: null })), []);
});

test("the hit's name in pictures is the one the server's request uses", () => {
  assert.equal(hitTensorName({ module: "fc2", site: "output" }), "fc2 output");
  assert.equal(hitTensorName({ module: "", site: "grad_output" }), "root grad_output");
});
