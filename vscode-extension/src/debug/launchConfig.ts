/**
 * Pure parts of starting a Python debug session: the debug types the extension follows and
 * what it adds to a debug configuration. Kept apart from the VS Code adapters
 * (`debugConfig.ts`) so node tests cover them.
 */
import type { DebugConfiguration } from "vscode";

export const PYTHON_DEBUG_TYPES = ["debugpy", "python", "tensorpeek"] as const;
export const BREAKPOINTS_ENV = "TENSORPEEK_BREAKPOINTS";

/** The configuration with the breakpoints file in its env (other env entries kept). */
export function withBreakpointEnv(config: DebugConfiguration, breakpointFile: string): DebugConfiguration {
  const env = { ...(config.env as Record<string, string> | undefined), [BREAKPOINTS_ENV]: breakpointFile };
  return { ...config, env };
}

/** What F5 without a launch.json runs for the `tensorpeek` type — the current file. */
export function defaultLaunchConfig(config: DebugConfiguration): DebugConfiguration {
  if (config.type || config.request || config.name) return config;
  return { type: "tensorpeek", request: "launch", name: "tensorpeek: current file", program: "${file}", console: "internalConsole" };
}
