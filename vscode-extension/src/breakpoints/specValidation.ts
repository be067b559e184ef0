/**
 * Checking a breakpoint spec before it is stored. While paused the agent validates it (see
 * `DebugSessions.pushBreakpoints`); otherwise the same parser runs in the configured
 * interpreter: `tensorpeek.engine.spec.parse_spec`, with the spec passed as a JSON argument,
 * never as code.
 */
import { execFile } from "node:child_process";
import type { SpecParts } from "../wire/breakpointSpecs";

const VALIDATE = [
  "import json, sys",
  "from tensorpeek.engine.spec import SpecError, parse_spec",
  "try:",
  "    parse_spec(json.loads(sys.argv[1]))",
  "except SpecError as e:",
  "    print(e)",
  "    sys.exit(3)",
].join("\n");

export type Validation = { ok: true } | { ok: false; message: string };

export function validateWithPython(python: string, spec: SpecParts): Promise<Validation> {
  return new Promise((resolve) => {
    execFile(python, ["-c", VALIDATE, JSON.stringify(spec)], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) resolve({ ok: true });
      else if (err.code === 3) resolve({ ok: false, message: stdout.trim() });
      else
        resolve({
          ok: false,
          message: `could not check the spec with ${python} (is tensorpeek installed? "${python}" -m pip install tensorpeek): ${(stderr || err.message).trim().split("\n").pop()}`,
        });
    });
  });
}
