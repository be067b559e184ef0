/**
 * The real agent as the oracle for the codecs: a small training run in Python with a
 * recorded NaN hit at fc2, a snapshot and a detail reply from `tensorpeek.agent.request`
 * (called with the same JSON the extension sends), decoded by the extension's codecs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentError, agentExpression, decodeReply, replyText } from "../../src/wire/agentProxy";
import {
  detailCodec,
  modulesResultCodec,
  PROTOCOL_VERSION,
  replyCodec,
  setBreakpointsResultCodec,
  snapshotCodec,
} from "../../src/wire/protocol";
import { runPython } from "./python";

// requests are passed as the exact string literal the extension puts in its evaluate expression
const literalOf = (expr: string): string =>
  JSON.parse(expr.slice(expr.indexOf("(", expr.indexOf("request")) + 1, expr.lastIndexOf(", locals()")));

const TRAIN = `
import json, sys
import torch
from torch import nn
import tensorpeek
from tensorpeek import agent

torch.manual_seed(0)
model = nn.Sequential()
model.add_module("fc1", nn.Linear(8, 16))
model.add_module("fc2", nn.Linear(16, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(32, 8)
tensorpeek.break_on(model, "output", "nonfinite", action="record")
for step in range(5):
    if step == 3:
        with torch.no_grad():
            model[1].weight[1, 2] = float("nan")
    out = model(x)
    if step == 3:
        break  # paused after the bad forward, as the debugger would be
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
hit = tensorpeek.hits()[0]
frame = {"hit": hit, "x": x, "out": out, "model": model}
for line in sys.stdin:
    print(json.dumps(agent.request(json.loads(line), frame)))
`;

function ask(requests: Array<[string, Record<string, unknown>]>): string[] {
  const input = requests.map(([method, params]) => JSON.stringify(literalOf(agentExpression(method as never, params)))).join("\n");
  return runPython(TRAIN, `${input}\n`)
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as string);
}

test("a real snapshot, detail, modules and set_breakpoints reply decode with the extension's codecs", () => {
  const [snap, detail, modules, badSpec] = ask([
    ["snapshot", {}],
    ["detail", { expression: "out" }],
    ["modules", {}],
    ["set_breakpoints", { specs: [{ target: "fc2", site: "outptu", condition: "nonfinite", enabled: true }] }],
  ]).map((text) => replyCodec.decode(JSON.parse(replyText(text))));

  assert.ok(snap.ok, JSON.stringify(snap.error));
  const snapshot = snapshotCodec.decode(snap.result);
  assert.equal(snapshot.hit?.module, "fc2");
  assert.equal(snapshot.hit?.site, "output");
  assert.equal(snapshot.hit?.step, 3);
  assert.equal(snapshot.hit?.origin, true);
  const out = snapshot.tensors.find((t) => t.name === "out");
  assert.ok(out, `out is listed: ${snapshot.tensors.map((t) => t.name).join(", ")}`);
  assert.deepEqual(out.summary.shape, [32, 4]);
  assert.equal(out.summary.nan, 32, "one NaN weight in row 1 poisons column 1 of every output row");
  assert.ok(out.aliases?.includes("hit._tensor"), "the hit's tensor is the same object as out, listed once");
  assert.deepEqual(
    snapshot.tensors.filter((t) => t.summary.nan).map((t) => [t.name, t.summary.nan]),
    [
      ["out", 32],
      ["hit._module.weight", 1],
    ],
    "out and fc2's weight are the bad tensors",
  );

  assert.ok(detail.ok, JSON.stringify(detail.error));
  const d = detailCodec.decode(detail.result);
  assert.equal(d.name, "out");
  assert.ok(d.heatmap, "a 2-D tensor gets a heatmap payload");

  assert.deepEqual(modulesResultCodec.decode(modules.result).modules, ["", "fc1", "fc2"]);

  const rejected = setBreakpointsResultCodec.decode(badSpec.result);
  assert.equal(rejected.applied, false);
  assert.match(rejected.errors[0].message, /unknown site 'outptu'; valid sites: input, output/);
});

test("the snapshot a stop sends ahead (tensorpeekSnapshot) decodes to the same snapshot as asking for it", () => {
  // the event body as engine/pause.py builds it, through pydevd's own JSON encoding of messages
  const code = TRAIN.replace(
    /for line in sys\.stdin:[\s\S]*$/,
    `from tensorpeek.common import stop_announcer
body = stop_announcer.announcer(frame)
print(json.dumps({"type": "event", "event": "tensorpeekSnapshot", "body": body}))
print(json.dumps(agent.request(agent.SNAPSHOT_REQUEST, frame)))
`,
  );
  const [event, asked] = runPython(code).trim().split("\n");
  const message = JSON.parse(event) as { body: { version: number; reply: string } };
  assert.equal(message.body.version, PROTOCOL_VERSION);
  const pushed = decodeReply(message.body.reply, "snapshot", snapshotCodec);
  const oracle = decodeReply(JSON.parse(asked) as string, "snapshot", snapshotCodec);
  assert.equal(pushed.hit?.module, "fc2");
  assert.deepEqual({ ...pushed, elapsed_ms: 0 }, { ...oracle, elapsed_ms: 0 });
  assert.throws(() => decodeReply('{"version": 1, "ok": false, "error": {"message": "no"}}', "snapshot", snapshotCodec), AgentError);
  assert.throws(() => decodeReply("not json", "snapshot", snapshotCodec), /malformed reply/);
});
