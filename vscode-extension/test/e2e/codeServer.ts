/**
 * Starts a real VS Code (code-server, installed by scripts/setup.sh) on a free local port with
 * fresh per-run user data, extensions and a scratch HOME with its XDG folders (inherited by the
 * extension host, the debuggee and the language server), and stops its whole process group.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { scratchHome } from "../scratchHome";

export const EXT_DIR = path.resolve(__dirname, "../../..");
export const REPO = path.resolve(EXT_DIR, "..");
export const CACHE = path.join(REPO, ".cache");
export const CODE_SERVER = process.env.CODE_SERVER ?? path.join(CACHE, "code-server/node_modules/.bin/code-server");
export const NODE_BIN = path.join(CACHE, "node24/bin");
export const ARTIFACTS = path.join(REPO, "test-artifacts");

export interface CodeServer {
  url: string;
  workspace: string;
  logFile: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${timeoutMs} ms`);
}

/**
 * Copies `fixture` to a scratch folder, writes `workspaceSettings` into its .vscode, installs
 * `vsix` into a fresh extensions folder and starts code-server on the copy.
 */
export async function startCodeServer(fixture: string, vsix: string, workspaceSettings: Record<string, unknown>): Promise<CodeServer> {
  const root = mkdtempSync(path.join(tmpdir(), "tensorpeek-e2e-"));
  const dirs = Object.fromEntries(["user-data", "extensions", "workspace"].map((d) => [d, path.join(root, d)]));
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  cpSync(fixture, dirs.workspace, { recursive: true });
  writeFileSync(path.join(dirs.workspace, ".vscode", "settings.json"), JSON.stringify(workspaceSettings, null, 2));
  mkdirSync(path.join(dirs["user-data"], "User"), { recursive: true });
  writeFileSync(
    path.join(dirs["user-data"], "User", "settings.json"),
    JSON.stringify({
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "workbench.enableExperiments": false,
      "extensions.ignoreRecommendations": true,
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "telemetry.telemetryLevel": "off",
      "security.workspace.trust.enabled": false,
      "debug.openDebug": "openOnDebugBreak",
      "window.commandCenter": false,
      "chat.disableAIFeatures": true,
      "workbench.secondarySideBar.defaultVisibility": "hidden",
    }),
  );
  const env = { ...process.env, ...scratchHome(root), PATH: `${NODE_BIN}:${process.env.PATH}` };
  execFileSync(CODE_SERVER, ["--install-extension", vsix, "--extensions-dir", dirs.extensions, "--user-data-dir", dirs["user-data"]], {
    env,
    stdio: "pipe",
    timeout: 120_000,
  });

  const port = await freePort();
  rmSync(path.join(ARTIFACTS, "vscode-logs"), { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const logFile = path.join(ARTIFACTS, "code-server.log");
  const log = createWriteStream(logFile);
  const child = spawn(
    CODE_SERVER,
    [
      "--bind-addr",
      `127.0.0.1:${port}`,
      "--auth",
      "none",
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--user-data-dir",
      dirs["user-data"],
      "--extensions-dir",
      dirs.extensions,
      dirs.workspace,
    ],
    { env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return; // already gone
      }
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      const timedOut = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000));
      if ((await Promise.race([exited, timedOut])) === "timeout") process.kill(-child.pid, "SIGKILL");
    }
    log.end();
    // keep VS Code's logs (the extension's log channel included) as artifacts, then clean up
    cpSync(path.join(dirs["user-data"], "logs"), path.join(ARTIFACTS, "vscode-logs"), { recursive: true });
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitForHealth(url, child, 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, workspace: dirs.workspace, logFile, stop };
}
