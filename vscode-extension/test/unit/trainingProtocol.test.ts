/** The `training` and `tensorpeek/layoutGraph` codecs read the shapes of docs/training-protocol.md and refuse others. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DecodeError } from "../../src/wire/codec";
import { pictureCodec } from "../../src/wire/render";
import { trainingCodec } from "../../src/wire/protocol";

const reply = {
  step: 412,
  scalars: {
    loss: [
      [0, 2.31],
      [411, "nan"],
      [412, "inf"],
    ],
    lr: [[0, 0.001]],
  },
  spikes: [{ step: 57, scalar: "loss", value: 41.2, median: 2.1 }],
  graph: {
    nodes: [{ id: "", label: "input", type: "Net", health: "healthy" }],
    edges: [{ source: "", target: "stem", kind: "functional", label: "add" }],
  },
};

test("a training reply decodes, with NaN and Inf points as numbers", () => {
  const t = trainingCodec.decode(reply);
  assert.deepEqual(t.scalars.loss, [
    [0, 2.31],
    [411, Number.NaN],
    [412, Number.POSITIVE_INFINITY],
  ]);
  assert.equal(t.graph?.edges[0].label, "add");
  assert.equal(trainingCodec.decode({ ...reply, graph: null, step: null }).graph, null);
});

test("a malformed training reply is refused with the path that failed", () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ ...reply, scalars: { loss: [[0]] } }, /\.scalars\.loss\[0\]: expected \[step, value\]/],
    [{ ...reply, scalars: { loss: [[0.5, 1]] } }, /\.scalars\.loss\[0\]/],
    [{ ...reply, graph: { nodes: [{ id: "a", label: "a", type: "T", health: "sick" }], edges: [] } }, /health: expected one of/],
    [{ ...reply, graph: { nodes: [], edges: [{ source: "a", target: "b", kind: "data" }] } }, /kind: expected one of/],
  ];
  for (const [value, message] of bad)
    assert.throws(
      () => trainingCodec.decode(value),
      (e: unknown) => e instanceof DecodeError && message.test(e.message),
    );
});

test("a picture's hover map is one of the two kinds, or the picture is refused", () => {
  const bins = { kind: "bins", plot: [0.1, 0.1, 0.9, 0.8], xlim: [0, 1], edges: [0, 1], counts: [3] };
  assert.deepEqual(pictureCodec.decode({ mime: "image/png", data: "", hover: bins }).hover, bins);
  assert.equal(pictureCodec.decode({ mime: "image/png", data: "" }).hover, undefined);
  assert.throws(() => pictureCodec.decode({ mime: "image/png", data: "", hover: { kind: "pie" } }), /expected "bins" or "pixels"/);
});
