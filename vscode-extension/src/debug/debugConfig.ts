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
import { traceError, traceInfo } from "../platform/log";
import { vscode, window } from "../platform/vscodeapi";
import { checkRankJob, isRankJob, rankAttachConfig, type RankExit } from "../ranks/rankJob";
import { TorchrunJobAdapter } from "../ranks/torchrunJob";
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
  ): Promise<DebugConfiguration | undefined> {
    if (config.request !== "launch") return config;
    if (this.ownType && isRankJob(config)) {
      const job = checkRankJob(config);
      if (!job.ok) {
        // undefined: VS Code starts nothing
        traceError(`debug session '${config.name}' not started: ${job.error}`);
        void window.showErrorMessage(`tensorpeek: '${config.name}' was not started: ${job.error}`);
        return undefined;
      }
    }
    const file = await this.prepareFile();
    traceInfo(`debug session '${config.name}': ${BREAKPOINTS_ENV}=${file}`);
    return withBreakpointEnv(config, file);
  }
}

/**
 * The adapter of a `tensorpeek` session: debugpy's own (`python -m debugpy.adapter`) for a
 * script; the listening debugpy of a rank for a rank's attach session (loopback); the torchrun
 * job adapter in the extension host for a launch with `"nprocPerNode"`.
 */
export class DebugpyAdapterFactory implements DebugAdapterDescriptorFactory {
  constructor(private readonly onRankExit: (job: DebugSession, exit: RankExit, text: string) => void) {}

  async createDebugAdapterDescriptor(session: DebugSession): Promise<DebugAdapterDescriptor> {
    const config = session.configuration;
    const connect = config.connect as { host?: unknown; port?: unknown } | undefined;
    if (config.request === "attach" && typeof connect?.port === "number") {
      traceInfo(`'${session.name}' attaches to debugpy on 127.0.0.1:${connect.port}`);
      return new vscode.DebugAdapterServer(connect.port, "127.0.0.1");
    }
    const python = (config.python as string | undefined) ?? (await resolveInterpreter(session.workspaceFolder?.uri));
    if (isRankJob(config)) {
      const job = checkRankJob(config);
      if (!job.ok) throw new Error(job.error); // resolve... refused it already; a config from elsewhere
      traceInfo(`starting a ${job.value.nprocPerNode}-rank torchrun job for '${session.name}' with ${python}`);
      const adapter = new TorchrunJobAdapter(python, job.value, {
        startRank: async (listening) => {
          const child = rankAttachConfig(job.value, listening, session.id);
          traceInfo(`'${session.name}': rank ${listening.rank}/${listening.world_size} is pid ${listening.pid}`);
          return vscode.debug.startDebugging(session.workspaceFolder, child, { parentSession: session, lifecycleManagedByParent: true });
        },
        rankExited: (exit, text) => this.onRankExit(session, exit, text),
        log: traceInfo,
      });
      return new vscode.DebugAdapterInlineImplementation(adapter as unknown as vscode.DebugAdapter);
    }
    traceInfo(`starting ${python} -m debugpy.adapter for '${session.name}'`);
    return new vscode.DebugAdapterExecutable(python, ["-m", "debugpy.adapter"]);
  }
}
