/**
 * The only place that sends requests to the debuggee. Every call is one DAP `evaluate`
 * (context `clipboard`, which debugpy does not truncate) of
 * `__import__('tensorpeek.agent').agent.request(<JSON string literal>, locals())`.
 * Arguments travel only inside that JSON string literal; no name or value from the user or
 * the debuggee is ever spliced into code.
 */
import { DecodeError, type Codec } from "./codec";
import { PROTOCOL_VERSION, replyCodec, type AgentMethod } from "./protocol";

/** What the proxy needs from a `vscode.DebugSession` (a seam for tests). */
export interface DebugRequester {
  customRequest(command: string, args?: unknown): PromiseLike<unknown>;
}

export class AgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AgentError";
  }
}

/** JSON text with every non-ASCII code unit written as a `\\uXXXX` escape (same value). */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The evaluate expression for one agent request. The request is ASCII JSON text, written as
 * a JSON string literal, which is also a valid Python string literal with the same value.
 */
export function agentExpression(method: AgentMethod, params: Record<string, unknown>): string {
  const request = asciiJson({ version: PROTOCOL_VERSION, method, params });
  return `__import__('tensorpeek.agent').agent.request(${JSON.stringify(request)}, locals())`;
}

const simpleEscapes: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", r: "\r", t: "\t" };

/**
 * debugpy answers `evaluate` with the `repr()` of the resulting `str`. This undoes exactly
 * the escapes Python's `str.__repr__` produces (quotes, `\\`, `\n\r\t`, `\xHH`, `\uHHHH`,
 * `\UHHHHHHHH`) and rejects anything else rather than guessing.
 */
export function decodePythonStrRepr(text: string): string {
  const quote = text[0];
  if ((quote !== "'" && quote !== '"') || text.length < 2 || text[text.length - 1] !== quote) {
    throw new AgentError(`the debugger did not return a string (got ${text.slice(0, 80)})`);
  }
  let out = "";
  const body = text.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === quote) throw new AgentError("unescaped quote inside a string repr");
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e !== undefined && e in simpleEscapes) {
      out += simpleEscapes[e];
      continue;
    }
    const width = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    const hex = body.slice(i + 1, i + 1 + width);
    if (width === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== width) {
      throw new AgentError(`unexpected escape \\${e ?? ""} in a string repr`);
    }
    out += String.fromCodePoint(parseInt(hex, 16));
    i += width;
  }
  return out;
}

/**
 * The agent's JSON text from an evaluate result: the string itself (rawString honoured), or
 * its `repr()` from an adapter that ignores rawString. Anything else is the repr of an
 * exception raised while evaluating (e.g. tensorpeek missing in the debuggee).
 */
export function replyText(result: string): string {
  if (result.startsWith("{")) return result;
  if (/^['"]\{/.test(result)) return decodePythonStrRepr(result);
  throw new AgentError(agentUnavailableMessage(result));
}

export class AgentProxy {
  constructor(private readonly session: DebugRequester) {}

  /** Calls one agent method in the given frame and decodes its result with `codec`. */
  async call<T>(method: AgentMethod, params: Record<string, unknown>, frameId: number | undefined, codec: Codec<T>): Promise<T> {
    const args: Record<string, unknown> = {
      expression: agentExpression(method, params),
      context: "clipboard",
      format: { rawString: true },
    };
    if (frameId !== undefined) args.frameId = frameId;
    let response: unknown;
    try {
      response = await this.session.customRequest("evaluate", args);
    } catch (err) {
      throw new AgentError(agentUnavailableMessage(String((err as Error)?.message ?? err)));
    }
    const raw = (response as { result?: unknown })?.result;
    if (typeof raw !== "string") throw new AgentError("the debugger's evaluate response had no result");
    return decodeReply(replyText(raw), method, codec);
  }
}

/** The result of one agent reply (its JSON text: an evaluate's, or the one a stop's `tensorpeekSnapshot` event carries), decoded with `codec`; `AgentError` for anything else. */
export function decodeReply<T>(text: string, method: AgentMethod, codec: Codec<T>): T {
  let reply;
  try {
    reply = replyCodec.decode(JSON.parse(text));
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError(`malformed reply from tensorpeek.agent: ${(err as Error).message}`);
  }
  if (!reply.ok) throw new AgentError(reply.error?.message ?? "tensorpeek.agent reported an error without a message");
  try {
    return codec.decode(reply.result, method);
  } catch (err) {
    if (err instanceof DecodeError) throw new AgentError(`unexpected ${method} reply: ${err.message}`);
    throw err;
  }
}

function agentUnavailableMessage(detail: string): string {
  if (/No module named \\?'?tensorpeek/.test(detail)) {
    return "tensorpeek is not installed in the debugged interpreter (pip install tensorpeek)";
  }
  return `tensorpeek.agent request failed: ${detail}`;
}
