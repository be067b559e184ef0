/** Editing the tensor breakpoint list and the file the debuggee reads. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { addBreakpoint, hitCounts, lensTargets, removeBreakpoint, setEnabled, toastText } from "../../src/breakpoints/breakpointList";
import { validateWithPython } from "../../src/breakpoints/specValidation";
import { breakpointFileText, specText, splitSpec, type StoredBreakpoint } from "../../src/wire/breakpointSpecs";
import { PYTHON, runPython } from "./python";

const fc2 = { target: "fc2", site: "output", condition: "nonfinite" };
const attn = { target: "encoder.layers.*.attn", site: "grad_output", condition: "norm > 1e3" };

test("splitSpec splits at the first two colons only", () => {
  assert.deepEqual(splitSpec(" fc2 : output : nonfinite "), fc2);
  assert.deepEqual(splitSpec("*:output:step > 3 and absmax > 1:2"), {
    target: "*",
    site: "output",
    condition: "step > 3 and absmax > 1:2",
  });
});

test("splitSpec rejects specs with missing parts, naming the expected form", () => {
  for (const bad of ["fc2", "fc2:output", "fc2::nonfinite", ":output:nan", "  "])
    assert.throws(() => splitSpec(bad), /TARGET:SITE:CONDITION/, bad);
});

test("adding the same spec twice keeps one breakpoint and re-enables it", () => {
  let list = addBreakpoint([], fc2, "a");
  list = setEnabled(list, "a", false);
  list = addBreakpoint(list, fc2, "b");
  assert.deepEqual(list, [{ id: "a", ...fc2, enabled: true }]);
  list = addBreakpoint(list, attn, "c");
  assert.deepEqual(
    list.map((b) => b.id),
    ["a", "c"],
  );
});

test("remove and enable/disable touch only the named breakpoint", () => {
  const list = addBreakpoint(addBreakpoint([], fc2, "a"), attn, "c");
  assert.deepEqual(
    removeBreakpoint(list, "a").map((b) => b.id),
    ["c"],
  );
  assert.deepEqual(
    setEnabled(list, "c", false).map((b) => b.enabled),
    [true, false],
  );
  assert.deepEqual(removeBreakpoint(list, "nope"), list);
});

test("the breakpoints file is what tensorpeek.engine.spec.parse_spec accepts, disabled ones included (Python oracle)", () => {
  const list: StoredBreakpoint[] = setEnabled(addBreakpoint(addBreakpoint([], fc2, "a"), attn, "c"), "c", false);
  const parsed = runPython(
    `
import json, sys
from tensorpeek.engine.spec import parse_spec
for item in json.load(sys.stdin)["breakpoints"]:
    spec = parse_spec(item)
    print(json.dumps([str(spec), spec.enabled]))
`,
    breakpointFileText(list),
  );
  assert.deepEqual(
    parsed
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l)),
    [
      ["fc2:output:nonfinite", true],
      ["encoder.layers.*.attn:grad_output:norm > 1e3", false],
    ],
  );
});

test("a spec is checked by parse_spec in the interpreter: valid passes, invalid returns parse_spec's own message", async () => {
  assert.deepEqual(await validateWithPython(PYTHON, fc2), { ok: true });
  const bad = { target: "fc1", site: "grad_output", condition: "norm >" };
  const expected = runPython(
    `
import json, sys
from tensorpeek.engine.spec import SpecError, parse_spec
try:
    parse_spec(json.load(sys.stdin))
except SpecError as e:
    print(e)
`,
    JSON.stringify(bad),
  ).trim();
  assert.match(expected, /not a valid expression/, "the oracle rejects the spec");
  assert.deepEqual(await validateWithPython(PYTHON, bad), { ok: false, message: expected });
});

test("a spec that cannot be checked (no such interpreter) is refused with the pip hint, not accepted", async () => {
  const verdict = await validateWithPython("/nonexistent/python", fc2);
  assert.equal(verdict.ok, false);
  assert.match(verdict.ok ? "" : verdict.message, /could not check the spec with \/nonexistent\/python .*pip install tensorpeek/);
});

test("hit counts from the agent are matched to stored breakpoints by spec text", () => {
  const list = addBreakpoint(addBreakpoint([], fc2, "a"), attn, "c");
  const counts = hitCounts(list, [
    { spec: "fc2:output:nonfinite", hit_count: 2 },
    { spec: "*:output:nan", hit_count: 9 },
  ]);
  assert.deepEqual([...counts], [["a", 2]]);
  assert.equal(specText(list[1]), "encoder.layers.*.attn:grad_output:norm > 1e3");
});

test("a code lens on self.fc2 targets the live fc2 modules, or a glob when nothing is live", () => {
  assert.deepEqual(lensTargets("fc2", "Net", ["", "fc1", "fc2", "head.fc2", "xfc2"]), ["fc2", "head.fc2"]);
  assert.deepEqual(lensTargets("fc2", "Net", []), ["fc2", "*.fc2"]);
  assert.deepEqual(lensTargets(null, "Net", ["fc2"]), ["Net"]);
});

test("a refusal toast gets the first line, cut at a word; short messages stay whole", () => {
  assert.equal(toastText("unknown site 'outptu'"), "unknown site 'outptu'");
  const long = `invalid condition 'norm >': expected an expression after '>'\n  norm >\n        ^`;
  assert.equal(toastText(long), "invalid condition 'norm >': expected an expression after '>' …");
  const words = "word ".repeat(60).trim();
  const cut = toastText(words);
  assert.ok(cut.length <= 112 && cut.endsWith(" …") && !cut.includes("wo …"), cut);
});
