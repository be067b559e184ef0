/**
 * Debug sessions: the `tensorpeek` debug type runs `python -m debugpy.adapter` from the chosen
 * interpreter (for editors without Microsoft's Python debugger), and every Python debug
 * configuration (`debugpy`, `python`, `tensorpeek`) gets `TENSORPEEK_BREAKPOINTS` in its
 * environment, so tensor breakpoints are armed from the first step with no change to the script.
 */
import type {
  DebugAdapterDescriptor,
  DebugAdapterDescriptorFactory,
  DebugConfiguration,
  DebugConfigurationProvider,
  DebugSession,
  WorkspaceFolder,
} from "vscode";
import { resolveInterpreter } from "./interpreter";
import { BREAKPOINTS_ENV, defaultLaunchConfig, withBreakpointEnv } from "./launchConfig";
import { traceInfo } from "./log";
import { vscode } from "./vscodeapi";

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
