/**
 * Debug sessions: the `tensorpeek` debug type runs `python -m debugpy.adapter` from the chosen
 * interpreter (for editors without Microsoft's Python debugger), and every Python debug
 * configuration (`debugpy`, `python`, `tensorpeek`) gets `TENSORPEEK_BREAKPOINTS` in its
 * environment, so tensor breakpoints are armed from the first step with no change to the script.
 */
import type { DebugAdapterDescriptor, DebugAdapterDescriptorFactory, DebugConfiguration, DebugConfigurationProvider, DebugSession, WorkspaceFolder } from "vscode";
import { resolveInterpreter } from "./interpreter";
import { traceInfo } from "./log";
import { vscode } from "./vscodeapi";

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

export class BreakpointEnvProvider implements DebugConfigurationProvider {
  constructor(private readonly prepareFile: () => Promise<string>) {}

  async resolveDebugConfiguration(_folder: WorkspaceFolder | undefined, config: DebugConfiguration): Promise<DebugConfiguration> {
    const base = defaultLaunchConfig(config);
    const file = await this.prepareFile();
    traceInfo(`debug session '${base.name}': ${BREAKPOINTS_ENV}=${file}`);
    return withBreakpointEnv(base, file);
  }
}

export class DebugpyAdapterFactory implements DebugAdapterDescriptorFactory {
  async createDebugAdapterDescriptor(session: DebugSession): Promise<DebugAdapterDescriptor> {
    const python = (session.configuration.python as string | undefined) ?? (await resolveInterpreter(session.workspaceFolder?.uri));
    traceInfo(`starting ${python} -m debugpy.adapter for '${session.name}'`);
    return new vscode.DebugAdapterExecutable(python, ["-m", "debugpy.adapter"]);
  }
}
