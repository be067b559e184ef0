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
import { resolveInterpreter } from "../platform/interpreter";
import { traceInfo } from "../platform/log";
import { vscode } from "../platform/vscodeapi";
import { BREAKPOINTS_ENV, defaultLaunchConfig, withBreakpointEnv } from "./launchConfig";

/**
 * Registered for every Python debug type. Env injection happens after the owning extension
 * has filled in its defaults (`...WithSubstitutedVariables`), so an empty F5 configuration
 * of the Python extension is left for it to complete; only the `tensorpeek` type gets our
 * defaults.
 */
export class BreakpointEnvProvider implements DebugConfigurationProvider {
  constructor(
    private readonly ownType: boolean,
    private readonly prepareFile: () => Promise<string>,
  ) {}

  resolveDebugConfiguration(_folder: WorkspaceFolder | undefined, config: DebugConfiguration): DebugConfiguration {
    return this.ownType ? defaultLaunchConfig(config) : config;
  }

  async resolveDebugConfigurationWithSubstitutedVariables(
    _folder: WorkspaceFolder | undefined,
    config: DebugConfiguration,
  ): Promise<DebugConfiguration> {
    if (config.request !== "launch") return config;
    const file = await this.prepareFile();
    traceInfo(`debug session '${config.name}': ${BREAKPOINTS_ENV}=${file}`);
    return withBreakpointEnv(config, file);
  }
}

export class DebugpyAdapterFactory implements DebugAdapterDescriptorFactory {
  async createDebugAdapterDescriptor(session: DebugSession): Promise<DebugAdapterDescriptor> {
    const python = (session.configuration.python as string | undefined) ?? (await resolveInterpreter(session.workspaceFolder?.uri));
    traceInfo(`starting ${python} -m debugpy.adapter for '${session.name}'`);
    return new vscode.DebugAdapterExecutable(python, ["-m", "debugpy.adapter"]);
  }
}
