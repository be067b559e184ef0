/**
 * End to end in a real VS Code (code-server + headless Chromium): a torchrun job of two CPU/gloo
 * DDP ranks (test/fixtures/distributed/ddp_train.py, a NaN planted in rank 1's fc2 at step 3)
 * started by a `"nprocPerNode": 2` launch configuration. Two rank sessions appear under the
 * job in Call Stack; rank 1 stops at the tensor breakpoint and rank 0 is paused too; the
 * Tensors view says rank 1 and its rank picker switches to rank 0's stop; Continue on rank 1
 * resumes both, and the job runs to its end. The tests run in order on one session.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Frame, Page } from "playwright-core";
import { launchChromium } from "../chromium";
import { ARTIFACTS, EXT_DIR, REPO, startCodeServer, type CodeServer } from "./codeServer";
import { answerQuickInput, findFrame, openWorkbench, runCommand } from "./workbench";

const VSIX = path.join(EXT_DIR, "dist", "tensorpeek.vsix");
const FIXTURE = path.join(EXT_DIR, "test", "fixtures", "distributed");
const PYTHON = process.env.TENSORPEEK_E2E_PYTHON ?? path.join(REPO, ".venv", "bin", "python");

let server: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let panel: Frame | undefined;

async function screenshot(name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page?.screenshot({ path: path.join(ARTIFACTS, name) });
}

function step(name: string, timeout: number, body: () => Promise<void>): void {
  const file = `distributed-failed-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}.png`;
  test(name, { timeout }, async () => {
    try {
      await body();
    } catch (err) {
      await screenshot(file).catch(() => undefined); // the assertion below is what reports
      throw err;
    }
  });
}

/** The extension's log file (its one log channel) under code-server's user data, once it exists. */
function extensionLog(): string {
  const logs = path.join(path.dirname(server!.workspace), "user-data", "logs");
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === "tensorpeek.log") found.push(p);
    }
  };
  walk(logs);
  return found.map((f) => readFileSync(f, "utf8")).join("\n");
}

async function waitForLog(pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = extensionLog();
    const m = pattern.exec(text);
    if (m) return m[0];
    if (Date.now() > deadline) throw new Error(`the extension log never matched ${pattern}:\n${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const callStackRow = (p: Page, text: RegExp) => p.locator(".debug-call-stack .monaco-list-row", { hasText: text });

before(async () => {
  assert.ok(existsSync(VSIX), `build the package first (${VSIX})`);
  assert.ok(existsSync(PYTHON), `the e2e debuggee interpreter is missing: ${PYTHON}`);
  server = await startCodeServer(FIXTURE, VSIX, { "tensorpeek.python": PYTHON });
  browser = await launchChromium();
  page = await openWorkbench(browser, server.url, server.workspace, path.join(ARTIFACTS, "distributed-browser-console.log"));
});

after(async () => {
  if (page) await screenshot("distributed-last.png").catch(() => undefined);
  await browser?.close();
  await server?.stop();
});

step("a 2-rank job: both rank sessions under the job, rank 1 stops at the tensor breakpoint, rank 0 is paused too", 150_000, async () => {
  const p = page!;
  await runCommand(p, "tensorpeek: Add Tensor Breakpoint…");
  await answerQuickInput(p, "*:output:nonfinite");
  await runCommand(p, "Debug: Start Debugging");
  // the Tensors view comes on screen at the hit, with the rank bar above the banner
  panel = await findFrame(p, "#rank-label", 120_000);
  const label = panel.locator("#rank-label");
  await panel.waitForFunction(
    () => document.querySelector("#rank-label")?.textContent?.startsWith("rank 1 of 2: stopped here"),
    undefined,
    {
      timeout: 30_000,
    },
  );
  assert.match((await label.textContent()) ?? "", /^rank 1 of 2: stopped here$/);
  await panel.locator("#banner h2").waitFor({ timeout: 30_000 });
  assert.equal((await panel.locator('[data-fact="module"]').textContent())?.split(" ")[0], "module.fc2");
  assert.equal(await panel.locator('[data-fact="step"]').textContent(), "3");
  // rank 0 was paused for rank 1: its session reported a stop, which the picker shows
  const rank0 = panel.locator("#rank-picker option", { hasText: /^rank 0 / });
  await panel.waitForFunction(
    () => Array.from(document.querySelectorAll("#rank-picker option")).some((o) => o.textContent === "rank 0 (paused)"),
    undefined,
    { timeout: 20_000 },
  );
  assert.equal(await rank0.textContent(), "rank 0 (paused)");
  assert.equal(await panel.locator("#rank-picker option", { hasText: /^rank 1 / }).textContent(), "rank 1 (stopped)");
  // Call Stack: the job's session with one child session per rank
  await callStackRow(p, /ddp: 2 ranks/)
    .first()
    .waitFor({ timeout: 10_000 });
  // VS Code's own words for each rank's state, from its session's stopped event
  await callStackRow(p, /rank 0.*paused on pause/i)
    .first()
    .waitFor({ timeout: 10_000 });
  await callStackRow(p, /rank 1.*paused on breakpoint/i)
    .first()
    .waitFor({ timeout: 10_000 });
  // the extension sent rank 0 its pause (tensorpeek's store watcher in rank 0 may have suspended it first)
  await waitForLog(/rank 0: paused \(rank 1 stopped\)/, 5000);
  await screenshot("distributed-stopped.png");
});

step("the rank picker switches the panel to rank 0's stop, and back", 60_000, async () => {
  const found = panel!;
  await found.locator("#rank-picker").selectOption({ label: "rank 0 (paused)" });
  await found.waitForFunction(() => document.querySelector("#rank-label")?.textContent?.startsWith("rank 0 of 2: paused"), undefined, {
    timeout: 30_000,
  });
  assert.equal(await found.locator("#rank-label").textContent(), "rank 0 of 2: paused (rank 1 stopped)");
  // rank 0's own frame: load_batch's locals, with its clean batch
  const batch = found.locator('#tensor-table tr[data-name="batch"]');
  await batch.waitFor({ timeout: 30_000 });
  assert.equal(await batch.locator("td:nth-child(2)").textContent(), "[32, 8]");
  assert.equal(await batch.evaluate((r) => r.classList.contains("bad")), false, "rank 0's batch is finite");
  assert.equal(await found.locator("#banner h2").textContent(), "Paused (not at a tensor breakpoint)", "rank 0 has no hit");
  assert.equal(await found.locator("#banner p.muted").textContent(), "session: rank 0");
  await screenshot("distributed-rank0.png");
  await found.locator("#rank-picker").selectOption({ label: "rank 1 (stopped)" });
  await found.waitForFunction(() => document.querySelector("#rank-label")?.textContent === "rank 1 of 2: stopped here", undefined, {
    timeout: 30_000,
  });
  await found.waitForFunction(
    () => document.querySelector("#banner h2")?.textContent?.startsWith("Tensor breakpoint: module.fc2"),
    undefined,
    {
      timeout: 30_000,
    },
  );
});

step("Continue on rank 1 resumes both ranks and the job runs to its end", 90_000, async () => {
  const p = page!;
  await callStackRow(p, /rank 1.*paused on breakpoint/i)
    .first()
    .click();
  await runCommand(p, "Debug: Continue");
  // rank 1 can only finish step 3 once rank 0 joins its all-reduce: both must have been resumed
  await waitForLog(/rank 1\/2 finished\./, 60_000);
  await waitForLog(/rank 0\/2 finished\./, 30_000);
  await p.waitForFunction(
    () => !Array.from(document.querySelectorAll(".debug-call-stack .monaco-list-row")).some((r) => /rank \d/.test(r.textContent ?? "")),
    undefined,
    {
      timeout: 30_000,
    },
  );
  // torchrun exited, so the job's own session ended too (the debug toolbar goes away)
  await p.locator(".debug-toolbar").waitFor({ state: "hidden", timeout: 30_000 });
  await waitForLog(/torchrun job 'ddp: 2 ranks' ended/, 5000);
  await screenshot("distributed-ended.png");
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

step("stopping the job's session stops every rank: their sessions end and their processes are gone", 90_000, async () => {
  const p = page!;
  const pidLines = () => extensionLog().match(/rank \d\/2 is pid \d+/g) ?? [];
  const attached = () => (extensionLog().match(/'rank \d' attaches to debugpy/g) ?? []).length;
  const [pidsBefore, attachedBefore] = [pidLines().length, attached()];
  await runCommand(p, "Debug: Start Debugging");
  const deadline0 = Date.now() + 60_000;
  while (attached() < attachedBefore + 2 && Date.now() < deadline0) await new Promise((r) => setTimeout(r, 250));
  assert.equal(attached(), attachedBefore + 2, "both ranks of this run attached");
  const pids = pidLines()
    .slice(pidsBefore)
    .map((m) => Number(m.split(" ").pop()));
  assert.equal(pids.length, 2, "this run's two ranks");
  assert.ok(pids.every(alive), "both ranks run");
  await callStackRow(p, /ddp: 2 ranks/)
    .first()
    .click();
  await runCommand(p, "Debug: Stop");
  await p.locator(".debug-toolbar").waitFor({ state: "hidden", timeout: 30_000 });
  const deadline = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(pids.filter(alive), [], "no rank process is left behind");
  assert.equal(await callStackRow(p, /rank \d/).count(), 0, "no rank session is left in Call Stack");
  await screenshot("distributed-stopped-job.png");
});

// last: picking this configuration makes it the one "Start Debugging" runs
step("a configuration with nprocPerNode 0 is refused with the reason and starts nothing", 60_000, async () => {
  const p = page!;
  const jobs = () => (extensionLog().match(/starting a \d+-rank torchrun job/g) ?? []).length;
  const jobsBefore = jobs();
  await runCommand(p, "Debug: Select and Start Debugging");
  // the configuration picker is quick access with the "debug " prefix
  await answerQuickInput(p, "debug ddp: zero ranks", "ddp: zero ranks");
  const toast = p.locator(".notification-toast", { hasText: "was not started" }).first();
  await toast.waitFor({ timeout: 20_000 });
  assert.match((await toast.textContent()) ?? "", /"nprocPerNode" must be at least 1 \(one process per rank\), not 0/);
  await p.waitForTimeout(1000);
  assert.equal(await p.locator(".debug-toolbar").isVisible(), false, "no debug session started");
  assert.equal(jobs(), jobsBefore, "no job was launched");
  assert.match(extensionLog(), /debug session 'ddp: zero ranks \(refused\)' not started: "nprocPerNode" must be at least 1/);
  await p.keyboard.press("Escape");
  await runCommand(p, "Notifications: Clear All Notifications");
});
