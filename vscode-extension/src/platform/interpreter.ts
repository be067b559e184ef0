/**
 * Which Python runs the debug adapter, the debuggee (for the `tensorpeek` debug type) and the
 * language server: the `tensorpeek.python` setting, else the Python extension's active
 * interpreter when that extension is installed, else `python3`.
 */
import type { Uri } from "vscode";
import { chooseInterpreter } from "./interpreterChoice";
import { traceWarn } from "./log";
import { extensions, workspace } from "./vscodeapi";

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: Uri): { path: string };
    resolveEnvironment(env: { path: string }): Promise<{ executable?: { uri?: Uri } } | undefined>;
  };
}

async function pythonExtensionInterpreter(resource: Uri | undefined): Promise<string | undefined> {
  const ext = extensions.getExtension("ms-python.python");
  if (!ext) return undefined;
  try {
    const api = (ext.isActive ? ext.exports : await ext.activate()) as PythonExtensionApi;
    const envs = api?.environments;
    if (!envs) return undefined;
    const resolved = await envs.resolveEnvironment(envs.getActiveEnvironmentPath(resource));
    return resolved?.executable?.uri?.fsPath;
  } catch (err) {
    traceWarn(`could not ask the Python extension for its interpreter: ${String(err)}`);
    return undefined;
  }
}

export async function resolveInterpreter(resource?: Uri): Promise<string> {
  const folder = workspace.workspaceFolders()?.[0]?.uri.fsPath;
  const setting = workspace.setting<string>("tensorpeek", "python", resource);
  if (setting?.trim()) return chooseInterpreter(setting, undefined, folder);
  return chooseInterpreter(undefined, await pythonExtensionInterpreter(resource), folder);
}
