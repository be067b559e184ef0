/**
 * A throwaway HOME with its own XDG folders, for the programs the tests start (code-server,
 * Chromium, and through code-server the debuggee and the language server), so that no test
 * writes under the real $HOME: code-server's config and data, Chromium's crash reports and
 * dconf cache, matplotlib's font cache, VS Code's device id all land here instead.
 */
import { mkdirSync } from "node:fs";
import * as path from "node:path";

export interface ScratchHome {
  HOME: string;
  XDG_CONFIG_HOME: string;
  XDG_DATA_HOME: string;
  XDG_CACHE_HOME: string;
  XDG_STATE_HOME: string;
}

/** Creates `root/home` and its XDG folders; returns them as environment variables. */
export function scratchHome(root: string): ScratchHome {
  const home = path.join(root, "home");
  const env = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
  };
  for (const dir of Object.values(env)) mkdirSync(dir, { recursive: true });
  return env;
}
