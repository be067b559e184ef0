/** The agent proxy: the evaluate expression is injection-proof and replies decode exactly. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentError, AgentProxy, agentExpression, decodePythonStrRepr, replyText, type DebugRequester } from "../../src/wire/agentProxy";
import { object, str } from "../../src/wire/codec";
import { runPython } from "./python";

const HOSTILE_NAMES = [
  "x'); import os; os.system('touch /tmp/pwned') #",
  'y"); __import__("os").system("id") #',
  "back\\slash\nnewline\ttab",
  "ünïcødé 张量 😀",
  "\u2028line-separator\u0000nul",
];

test("the expression is one call of agent.request with a single string literal, whatever the names", () => {
  const exprs = HOSTILE_NAMES.map((name) => agentExpression("detail", { expression: name }));
  // Python's own parser is the oracle: the AST must be exactly the fixed call shape and the
  // literal must decode to the request, with every hostile name intact as data
  const out = runPython(
    `
import ast, json, sys
for expr in json.load(sys.stdin):
    tree = ast.parse(expr, mode="eval").body
    assert isinstance(tree, ast.Call), ast.dump(tree)
    assert ast.unparse(tree.func) == "__import__('tensorpeek.agent').agent.request", ast.unparse(tree.func)
    literal, frame_locals = tree.args
    assert isinstance(literal, ast.Constant) and isinstance(literal.value, str)
    assert ast.unparse(frame_locals) == "locals()" and not tree.keywords
    print(json.dumps(json.loads(literal.value)))
`,
    JSON.stringify(exprs),
  );
  const requests = out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    requests,
    HOSTILE_NAMES.map((name) => ({ version: 1, method: "detail", params: { expression: name } })),
  );
});

test("the expression is ASCII, so no encoding step can alter it", () => {
  for (const name of HOSTILE_NAMES) assert.match(agentExpression("detail", { expression: name }), /^[\x20-\x7e]*$/);
});

test("decodePythonStrRepr inverts Python's str repr (Python is the oracle)", () => {
  const cases = runPython(`
import json
samples = ['{"a": 1}', "it's", 'say "hi"', "both ' and \\"", "tab\\t nl\\n cr\\r", "\\x7f del", "\\\\ backslash",
           "é ü 张", "\\u200b zero-width", "\\U0001f600 emoji", "\\x00 nul", "\\ud800 lone surrogate"]
print(json.dumps([[repr(s), s] for s in samples]))
`);
  for (const [repr, value] of JSON.parse(cases) as Array<[string, string]>) assert.equal(decodePythonStrRepr(repr), value, repr);
});

test("decodePythonStrRepr rejects what is not a str repr instead of guessing", () => {
  for (const bad of ["{}", "'abc", "'a\\qb'", "'a'b'", "'\\x4'"]) assert.throws(() => decodePythonStrRepr(bad), AgentError, bad);
});

test("replyText takes raw JSON, a str repr, and reports an exception repr with the pip hint", () => {
  assert.equal(replyText('{"ok": true}'), '{"ok": true}');
  assert.equal(replyText(`'{"ok": true}'`), '{"ok": true}');
  assert.throws(() => replyText(`ModuleNotFoundError("No module named 'tensorpeek.agent'")`), /pip install tensorpeek/);
  assert.throws(() => replyText("NameError(\"name 'q' is not defined\")"), /tensorpeek.agent request failed: NameError/);
});

class RecordingSession implements DebugRequester {
  readonly requests: Array<{ command: string; args: Record<string, unknown> }> = [];
  constructor(private readonly answer: (args: Record<string, unknown>) => unknown) {}
  async customRequest(command: string, args?: unknown): Promise<unknown> {
    this.requests.push({ command, args: args as Record<string, unknown> });
    return this.answer(args as Record<string, unknown>);
  }
}

const resultCodec = object({ modules: str });

test("call sends one clipboard evaluate in the given frame and decodes the result", async () => {
  const session = new RecordingSession(() => ({ result: JSON.stringify({ version: 1, ok: true, result: { modules: "fc2" } }) }));
  const result = await new AgentProxy(session).call("modules", {}, 7, resultCodec);
  assert.deepEqual(result, { modules: "fc2" });
  assert.equal(session.requests.length, 1);
  const [{ command, args }] = session.requests;
  assert.equal(command, "evaluate");
  assert.equal(args.context, "clipboard");
  assert.equal(args.frameId, 7);
  assert.deepEqual(args.format, { rawString: true });
  assert.equal(args.expression, agentExpression("modules", {}));
});

test("an error reply becomes an AgentError carrying the agent's message", async () => {
  const session = new RecordingSession(() => ({
    result: JSON.stringify({ version: 1, ok: false, error: { message: "detail: no variable named 'q' in this frame" } }),
  }));
  await assert.rejects(new AgentProxy(session).call("detail", { expression: "q" }, 1, resultCodec), {
    name: "AgentError",
    message: "detail: no variable named 'q' in this frame",
  });
});

test("a reply of the wrong shape is rejected with the path that failed", async () => {
  const session = new RecordingSession(() => ({ result: JSON.stringify({ version: 1, ok: true, result: { modules: 3 } }) }));
  await assert.rejects(
    new AgentProxy(session).call("modules", {}, 1, resultCodec),
    /unexpected modules reply: modules\.modules: expected string, got number/,
  );
});

test("a failed evaluate request is reported as the agent being unavailable", async () => {
  const session = new RecordingSession(() => {
    throw new Error("Unable to find thread for evaluation.");
  });
  await assert.rejects(
    new AgentProxy(session).call("snapshot", {}, 1, resultCodec),
    /tensorpeek.agent request failed: Unable to find thread/,
  );
});
