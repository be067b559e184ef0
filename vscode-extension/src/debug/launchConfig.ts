/**
 * Pure parts of starting a Python debug session: which interpreter to use and what the
 * extension adds to a debug configuration. Kept apart from the VS Code adapters so node
 * tests cover them.
 */
import type { DebugConfiguration } from "vscode";

export const PYTHON_DEBUG_TYPES = ["debugpy", "python", "tensorpeek"] as const;
export const BREAKPOINTS_ENV = "TENSORPEEK_BREAKPOINTS";

/** Pure: the configuration with the breakpoints file in its env (other env entries kept). */
export function withBreakpointEnv(config: DebugConfiguration, breakpointFile: string): DebugConfiguration {
  const env = { ...(config.env as Record<string, string> | undefined), [BREAKPOINTS_ENV]: breakpointFile };
  return { ...config, env };
}

/** Pure: what F5 without a launch.json runs for the `tensorpeek` type — the current file. */
export function defaultLaunchConfig(config: DebugConfiguration): DebugConfiguration {
  if (config.type || config.request || config.name) return config;
  return { type: "tensorpeek", request: "launch", name: "tensorpeek: current file", program: "${file}", console: "internalConsole" };
}

export const FALLBACK_PYTHON = "python3";

/** Pure choice between the candidates, with `${workspaceFolder}` expanded in the setting. */
export function chooseInterpreter(setting: string | undefined, pythonExtension: string | undefined, folder: string | undefined): string {
  const configured = setting?.trim();
  if (configured) return folder ? configured.replace(/\$\{workspaceFolder\}/g, folder) : configured;
  if (pythonExtension) return pythonExtension;
  return FALLBACK_PYTHON;
}

/** Set (e.g. by the repo's "Run the extension" launch config) to debug the server with debugpy. */
export const SERVER_DEBUG_PORT_ENV = "TENSORPEEK_LS_DEBUGPY_PORT";

/**
 * Pure: the server's command line. With a debug port, the server runs under debugpy and
 * waits for the "Attach to the language server" configuration before it starts serving.
 */
export function serverArgs(debugPort: string | undefined): string[] {
  const port = debugPort?.trim();
  if (port && /^\d+$/.test(port)) return ["-m", "debugpy", "--listen", `127.0.0.1:${port}`, "--wait-for-client", "-m", "tensorpeek.server"];
  return ["-m", "tensorpeek.server"];
}

/** Pure: the message shown when the interpreter cannot import tensorpeek. */
export function missingTensorpeekMessage(python: string, detail: string): string {
  const reason = detail.trim().split("\n").pop() || "import failed";
  return `${python} cannot import tensorpeek's language server (${reason}). Install or upgrade it with: "${python}" -m pip install --upgrade tensorpeek`;
}
