/** The Python the oracle tests run: the repo's .venv (as in CI), else TENSORPEEK_TEST_PYTHON. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "../../../..");
export const PYTHON = process.env.TENSORPEEK_TEST_PYTHON ?? path.join(REPO, ".venv", "bin", "python");

/** Runs `code` with `input` on stdin and returns stdout; throws (failing the test) on error. */
export function runPython(code: string, input = ""): string {
  if (!existsSync(PYTHON)) throw new Error(`no Python for the oracle tests at ${PYTHON} (run scripts/setup-python.sh)`);
  return execFileSync(PYTHON, ["-c", code], { input, encoding: "utf8", timeout: 60_000 });
}
