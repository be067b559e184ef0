/** The Tensor Breakpoints view: one row per stored breakpoint, with its hit count. */
import type { Event, TreeDataProvider, TreeItem } from "vscode";
import { vscode } from "../platform/vscodeapi";
import { specText, type StoredBreakpoint } from "../wire/breakpointSpecs";
import type { BreakpointStore } from "./breakpointStore";

export const BREAKPOINTS_VIEW_ID = "tensorpeek.breakpointsView";

export class BreakpointsTree implements TreeDataProvider<StoredBreakpoint> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData: Event<void> = this.changed.event;

  constructor(private readonly store: BreakpointStore) {
    store.onDidChange(() => this.changed.fire());
    store.onDidChangeHitCounts(() => this.changed.fire());
  }

  getChildren(element?: StoredBreakpoint): StoredBreakpoint[] {
    return element ? [] : [...this.store.all()];
  }

  getTreeItem(bp: StoredBreakpoint): TreeItem {
    const item = new vscode.TreeItem(specText(bp), vscode.TreeItemCollapsibleState.None);
    const hits = this.store.hitCount(bp.id);
    item.id = bp.id;
    item.description = [bp.enabled ? "" : "disabled", hits === undefined ? "" : `${hits} hit${hits === 1 ? "" : "s"}`]
      .filter(Boolean)
      .join(" · ");
    item.contextValue = bp.enabled ? "tensorBreakpoint.enabled" : "tensorBreakpoint.disabled";
    item.iconPath = new vscode.ThemeIcon(bp.enabled ? "debug-breakpoint" : "debug-breakpoint-disabled");
    item.tooltip = `break when ${bp.target} ${bp.site} satisfies ${bp.condition}`;
    return item;
  }
}
