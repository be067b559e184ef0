/**
 * The snapshot a debuggee sends ahead of its stop: taken by that session's next stop only, once,
 * while fresh, and only a hit's; anything else is refused (the extension then asks for it).
 * The bodies come from the real agent (`stop_announcement` of a recorded NaN hit).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FRESH_MS, SentAhead } from "../../src/debug/sentAhead";
import { runPython } from "./python";

const BODIES = runPython(`
import json, torch
import tensorpeek
from tensorpeek.common import stop_announcer
model = torch.nn.Sequential(torch.nn.Linear(3, 3))
tensorpeek.break_on("*:output:nonfinite", action="record")
with torch.no_grad():
    model[0].weight[0, 0] = float("nan")
    model(torch.ones(2, 3))
hit = tensorpeek.hits()[0]
print(json.dumps(stop_announcer.announcer({"hit": hit, "tensor": hit.tensor, "module": hit.module_object})))
print(json.dumps(stop_announcer.announcer({"x": torch.ones(2)})))  # a frame without a hit
`)
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as unknown);
const [HIT, NO_HIT] = BODIES;

function errors(): { list: unknown[]; onError: (err: unknown) => void } {
  const list: unknown[] = [];
  return { list, onError: (err) => list.push(err) };
}

test("a hit's snapshot is taken once, by the next stop of its own session, while fresh", () => {
  const ahead = new SentAhead();
  const e = errors();
  ahead.sent("s1", HIT, 1000);
  assert.equal(ahead.take("s2", 1010, e.onError), undefined, "another session's stop");
  const taken = ahead.take("s1", 1010, e.onError);
  assert.equal(taken?.hit?.module, "0");
  assert.equal(taken?.hit?.site, "output");
  assert.equal(ahead.take("s1", 1020, e.onError), undefined, "taken once");
  ahead.sent("s1", HIT, 1000);
  assert.equal(ahead.take("s1", 1000 + FRESH_MS + 1, e.onError), undefined, "too old for this stop");
  assert.deepEqual(e.list, []);
});

test("a snapshot without a hit, another protocol version or a bad reply is not used", () => {
  const ahead = new SentAhead();
  const e = errors();
  ahead.sent("s", NO_HIT, 0);
  assert.equal(ahead.take("s", 1, e.onError), undefined, "not a tensor-breakpoint stop");
  assert.equal(e.list.length, 0);
  for (const body of [{ ...(HIT as object), version: 2 }, { version: 1 }, { version: 1, reply: "{not json" }, null, "text"]) {
    ahead.sent("s", body, 0);
    assert.equal(ahead.take("s", 1, e.onError), undefined, JSON.stringify(body));
  }
  assert.equal(e.list.length, 5, "each refusal is reported");
  assert.match(String(e.list[0]), /protocol version 2/);
  assert.match(String(e.list[2]), /malformed reply/);
});
