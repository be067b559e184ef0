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

