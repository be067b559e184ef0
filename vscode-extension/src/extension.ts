/** Entry point: builds the parts and registers them with VS Code. Logic lives in the parts. */
import * as path from "node:path";
import type { ExtensionContext } from "vscode";
import { AddBreakpointCommand } from "./breakpoints/addBreakpointCommand";
import { BreakpointStore } from "./breakpoints/breakpointStore";
import { BREAKPOINTS_VIEW_ID, BreakpointsTree } from "./breakpoints/breakpointsTree";
import { BreakpointEnvProvider, DebugpyAdapterFactory } from "./debug/debugConfig";
import { DebugSessions } from "./debug/debugSessions";
import { PYTHON_DEBUG_TYPES } from "./debug/launchConfig";
import { TensorHover } from "./debug/tensorHover";
import { checkTensorpeekImport, TensorpeekLanguageServer } from "./language/languageServer";
import { TENSOR_VIEW_ID, TensorPanel } from "./panel/tensorPanel";
import { resolveInterpreter } from "./platform/interpreter";
import { setLogChannel, traceError } from "./platform/log";
import { commands, debug, languages, window } from "./platform/vscodeapi";
import type { StoredBreakpoint } from "./wire/breakpointSpecs";

const server = new TensorpeekLanguageServer();

export async function activate(context: ExtensionContext): Promise<void> {
  const channel = window.createLogChannel("tensorpeek");
  setLogChannel(channel);
  const storageDir = (context.storageUri ?? context.globalStorageUri).fsPath;
  const store = new BreakpointStore(context.workspaceState, path.join(storageDir, "breakpoints.json"));
  const panel = new TensorPanel(context, server);
  const sessions = new DebugSessions(panel, store);
  const addCommand = new AddBreakpointCommand(store, sessions);
  const tree = window.createTreeView(BREAKPOINTS_VIEW_ID, { treeDataProvider: new BreakpointsTree(store) });
  const onChosen = (verb: string, action: (id: string) => Promise<void>) => async (bp?: StoredBreakpoint) => {
    const id = await addCommand.choose(bp, verb);
    if (id) await action(id);
  };

  context.subscriptions.push(
    channel,
    tree,
    window.registerWebviewViewProvider(TENSOR_VIEW_ID, panel, { webviewOptions: { retainContextWhenHidden: true } }),
    ...sessions.register(),
    ...PYTHON_DEBUG_TYPES.map((t) => debug.registerDebugAdapterTrackerFactory(t, sessions)),
    ...PYTHON_DEBUG_TYPES.map((t) =>
      debug.registerDebugConfigurationProvider(t, new BreakpointEnvProvider(t === "tensorpeek", () => store.writeFile())),
    ),
    debug.registerDebugAdapterDescriptorFactory(
      "tensorpeek",
      new DebugpyAdapterFactory((_job, exit, text) => sessions.rankExited(text, exit.status === "failed")),
    ),
    languages.registerHoverProvider({ language: "python" }, new TensorHover(sessions, server)),
    commands.registerCommand("tensorpeek.addTensorBreakpoint", (arg?: unknown) => addCommand.run(arg)),
    commands.registerCommand(
      "tensorpeek.removeTensorBreakpoint",
      onChosen("remove", (id) => store.remove(id)),
    ),
    commands.registerCommand(
      "tensorpeek.enableTensorBreakpoint",
      onChosen("enable", (id) => store.setEnabled(id, true)),
    ),
    commands.registerCommand(
      "tensorpeek.disableTensorBreakpoint",
      onChosen("disable", (id) => store.setEnabled(id, false)),
    ),
    commands.registerCommand("tensorpeek.showTensorPanel", () => panel.openInEditor()),
    commands.registerCommand("tensorpeek.showInTensorPanel", (arg?: { variable?: { name?: string; evaluateName?: string } }) => {
      const name = arg?.variable?.evaluateName ?? arg?.variable?.name;
      if (name) panel.focusTensor(name);
      void commands.executeCommand(`${TENSOR_VIEW_ID}.focus`, { preserveFocus: true });
    }),
  );

  await store.writeFile();
  void startLanguageServer(channel);
}

async function startLanguageServer(channel: Parameters<TensorpeekLanguageServer["start"]>[1]): Promise<void> {
  const python = await resolveInterpreter();
  const missing = await checkTensorpeekImport(python);
  if (missing) {
    traceError(missing);
    server.markUnavailable(missing);
    void window.showErrorMessage(missing);
    return;
  }
  try {
    await server.start(python, channel);
  } catch (err) {
    traceError("the tensorpeek language server did not start", err);
    server.markUnavailable(`the tensorpeek language server did not start: ${(err as Error).message}`);
    void window.showErrorMessage(`The tensorpeek language server did not start: ${(err as Error).message}`);
  }
}

export async function deactivate(): Promise<void> {
  await server.stop();
}
