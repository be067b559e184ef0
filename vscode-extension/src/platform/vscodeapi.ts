/**
 * Every call into the `vscode` namespace goes through this file, so the rest of the
 * extension reads as plain logic and tests can see exactly which editor features it uses.
 */
import * as vscode from "vscode";

export const window = {
  createLogChannel: (name: string) => vscode.window.createOutputChannel(name, { log: true }),
  showErrorMessage: (message: string, ...items: string[]) => vscode.window.showErrorMessage(message, ...items),
  showModalError: (message: string, detail: string) => vscode.window.showErrorMessage(message, { modal: true, detail }),
  showWarningMessage: (message: string, ...items: string[]) => vscode.window.showWarningMessage(message, ...items),
  showInformationMessage: (message: string, ...items: string[]) => vscode.window.showInformationMessage(message, ...items),
  showQuickPick: <T extends vscode.QuickPickItem>(items: readonly T[], options: vscode.QuickPickOptions) =>
    vscode.window.showQuickPick(items, options),
  /** A quick pick that also accepts whatever was typed (for globs that match no live module). */
  pickOrType: (items: vscode.QuickPickItem[], placeholder: string, initial?: string) =>
    new Promise<string | undefined>((resolve) => {
      const qp = vscode.window.createQuickPick();
      qp.items = items;
      qp.placeholder = placeholder;
      if (initial) qp.value = initial;
      let done = false;
      const finish = (value: string | undefined) => {
        if (done) return;
        done = true;
        resolve(value);
        qp.dispose();
      };
      qp.onDidAccept(() => finish(qp.selectedItems[0]?.label ?? (qp.value.trim() || undefined)));
      qp.onDidHide(() => finish(undefined));
      qp.show();
    }),
  showInputBox: (options: vscode.InputBoxOptions) => vscode.window.showInputBox(options),
  registerWebviewViewProvider: (
    viewId: string,
    provider: vscode.WebviewViewProvider,
    options?: { webviewOptions?: { retainContextWhenHidden?: boolean } },
  ) => vscode.window.registerWebviewViewProvider(viewId, provider, options),
  createWebviewPanel: (viewType: string, title: string, options: vscode.WebviewPanelOptions & vscode.WebviewOptions) =>
    vscode.window.createWebviewPanel(viewType, title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, options),
  /** Opens `file` with `line` (1-based) selected and scrolled into view, as the active editor. */
  showLine: (file: string, line: number) => {
    const at = new vscode.Range(line - 1, 0, line - 1, 0);
    return vscode.window.showTextDocument(vscode.Uri.file(file), { selection: at, preview: true, preserveFocus: false });
  },
  activeEditorPath: () => vscode.window.activeTextEditor?.document.uri.fsPath,
  onDidChangeActiveTextEditor: vscode.window.onDidChangeActiveTextEditor,
  createTreeView: <T>(viewId: string, options: vscode.TreeViewOptions<T>) => vscode.window.createTreeView(viewId, options),
};

export const commands = {
  registerCommand: (command: string, callback: (...args: never[]) => unknown) =>
    vscode.commands.registerCommand(command, callback as (...args: unknown[]) => unknown),
  executeCommand: <T>(command: string, ...rest: unknown[]) => vscode.commands.executeCommand<T>(command, ...rest),
};

export const debug = {
  registerDebugAdapterDescriptorFactory: (type: string, factory: vscode.DebugAdapterDescriptorFactory) =>
    vscode.debug.registerDebugAdapterDescriptorFactory(type, factory),
  registerDebugConfigurationProvider: (type: string, provider: vscode.DebugConfigurationProvider) =>
    vscode.debug.registerDebugConfigurationProvider(type, provider),
  registerDebugAdapterTrackerFactory: (type: string, factory: vscode.DebugAdapterTrackerFactory) =>
    vscode.debug.registerDebugAdapterTrackerFactory(type, factory),
  activeStackItem: () => vscode.debug.activeStackItem,
  activeDebugSession: () => vscode.debug.activeDebugSession,
  onDidChangeActiveStackItem: vscode.debug.onDidChangeActiveStackItem,
  onDidTerminateDebugSession: vscode.debug.onDidTerminateDebugSession,
  onDidStartDebugSession: vscode.debug.onDidStartDebugSession,
  isStackFrame: (item: unknown): item is vscode.DebugStackFrame => item instanceof vscode.DebugStackFrame,
};

export const workspace = {
  setting: <T>(section: string, key: string, scope?: vscode.Uri) => vscode.workspace.getConfiguration(section, scope).get<T>(key),
  workspaceFolders: () => vscode.workspace.workspaceFolders,
  writeFile: (uri: vscode.Uri, text: string) => vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text)),
  createDirectory: (uri: vscode.Uri) => vscode.workspace.fs.createDirectory(uri),
  onDidChangeConfiguration: vscode.workspace.onDidChangeConfiguration,
};

export const extensions = {
  getExtension: (id: string) => vscode.extensions.getExtension(id),
};

export const languages = {
  registerHoverProvider: (selector: vscode.DocumentSelector, provider: vscode.HoverProvider) =>
    vscode.languages.registerHoverProvider(selector, provider),
};

export const env = {
  asExternalUri: (uri: vscode.Uri) => vscode.env.asExternalUri(uri),
};

export { vscode };
