/**
 * End to end in a real VS Code (code-server + headless Chromium) with a fresh profile and only
 * tensorpeek installed: a tensor breakpoint typed into the command palette, line breakpoints
 * set by F9 and by a gutter click, a debug session of a training script with a NaN planted in
 * `fc2` at step 3, and what is on screen at the hit. The tests run in order on one session.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Frame, Page } from "playwright-core";
import { ARTIFACTS, EXT_DIR, REPO, startCodeServer, type CodeServer } from "./codeServer";
import { launchChromium } from "../chromium";
import { describeTimeline, readTimeline } from "./stopTimeline";
import {
  activeTab,
  answerQuickInput,
  clickGutter,
  cursorLine,
  decorationOnLine,
  findFrame,
  goToLine,
  openFile,
  openWorkbench,
  runCommand,
  stoppedAtLine,
} from "./workbench";

const VSIX = path.join(EXT_DIR, "dist", "tensorpeek.vsix");
const FIXTURE = path.join(EXT_DIR, "test", "fixtures", "workspace");
const PYTHON = process.env.TENSORPEEK_E2E_PYTHON ?? path.join(REPO, ".venv", "bin", "python");

let server: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let panel: Frame | undefined; // the Tensors view's page, once the hit showed it

async function screenshot(name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page?.screenshot({ path: file });
  return file;
}

before(async () => {
  assert.ok(existsSync(VSIX), `build the package first (${VSIX})`);
  assert.ok(existsSync(PYTHON), `the e2e debuggee interpreter is missing: ${PYTHON}`);
  server = await startCodeServer(FIXTURE, VSIX, { "tensorpeek.python": PYTHON });
  browser = await launchChromium();
  page = await openWorkbench(browser, server.url, server.workspace, path.join(ARTIFACTS, "browser-console.log"));
});

after(async () => {
  if (page) await screenshot("e2e-last.png").catch(() => undefined);
  await browser?.close();
  await server?.stop();
});

/** Whether the first match of `selector` (in a webview frame) lies inside the visible part of its iframe and the window. */
async function onScreen(p: Page, frame: Frame, selector: string): Promise<boolean> {
  const box = await frame.locator(selector).first().boundingBox(); // page coordinates
  const iframe = await (await frame.frameElement()).boundingBox();
  const view = p.viewportSize();
  if (!box || !iframe || !view || box.height === 0) return false;
  const inside = (lo: number, hi: number, min: number, max: number) => lo >= min - 1 && hi <= max + 1;
  return (
    inside(box.y, box.y + box.height, Math.max(0, iframe.y), Math.min(view.height, iframe.y + iframe.height)) &&
    inside(box.x, box.x + Math.min(box.width, 200), Math.max(0, iframe.x), Math.min(view.width, iframe.x + iframe.width))
  );
}

/** A test step that leaves a screenshot of the workbench behind when it fails. */
function step(name: string, timeout: number, body: () => Promise<void>): void {
  const file = `e2e-failed-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}.png`;
  test(name, { timeout }, async () => {
    try {
      await body();
    } catch (err) {
      await screenshot(file).catch(() => undefined); // the assertion below is what reports
      throw err;
    }
  });
}

/** Polls `probe` until it returns something. */
async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const bpRow = (p: Page, spec: string) => p.locator(".monaco-list-row", { hasText: spec });

step("a full spec typed into the first box of Add Tensor Breakpoint is accepted (its row is checked at the hit)", 120_000, async () => {
  const p = page!;
  await runCommand(p, "tensorpeek: Add Tensor Breakpoint…");
  await answerQuickInput(p, "fc2:output:nonfinite");
  await p.waitForTimeout(1500); // validation runs in the interpreter; a refusal would show a toast
  assert.equal(await p.locator(".notification-toast", { hasText: "Tensor breakpoint not added" }).count(), 0, "no refusal");
});

step("line breakpoints set by F9 and by a gutter click in a .py file stop there", 180_000, async () => {
  const p = page!;
  await openFile(p, "train.py");
  await goToLine(p, 26);
  await p.keyboard.press("F9");
  await clickGutter(p, 27);
  const glyphs = p.locator(".editor-group-container.active .monaco-editor .codicon-debug-breakpoint");
  await p.waitForFunction(
    () => document.querySelectorAll(".editor-group-container.active .monaco-editor .codicon-debug-breakpoint").length >= 2,
    undefined,
    { timeout: 10_000 },
  );
  assert.equal(await glyphs.count(), 2, "two line breakpoints in the gutter");
  for (const line of [26, 27]) await decorationOnLine(p, ".codicon-debug-breakpoint", line, 5000);
  await screenshot("e2e-line-breakpoints.png");

  await runCommand(p, "Debug: Start Debugging");
  await stoppedAtLine(p, 26, 120_000); // stopped on the F9 breakpoint
  // the session arms a tensor breakpoint, so the Tensors page was made when it started (its first
  // hit does not wait for the webview to boot), while the Debug Console stayed in front
  await findFrame(p, "#panel", 10_000);
  await p.locator(".part.panel .composite-bar .action-item.checked", { hasText: "Debug Console" }).waitFor({ timeout: 10_000 });
  await screenshot("e2e-line-stop.png");
  await runCommand(p, "Debug: Continue");
  await stoppedAtLine(p, 27, 60_000); // stopped on the gutter breakpoint
});

step("at the tensor hit the user's line is in the editor and the Tensors view is on screen", 240_000, async () => {
  const p = page!;
  await runCommand(p, "Debug: Continue");
  // the Tensors view in the bottom panel opens by itself at the hit
  const found = await findFrame(p, "#banner h2", 120_000);
  panel = found;
  await found.locator("#tensor-table").waitFor({ timeout: 30_000 });
  // the Tensor Breakpoints view beside it lists the typed spec exactly as typed, and its hit
  await bpRow(p, "fc2:output:nonfinite").filter({ hasText: "1 hit" }).first().waitFor({ timeout: 20_000 });
  const specs = await p.locator(".monaco-list-row .label-name", { hasText: /^fc2:/ }).allTextContents();
  assert.deepEqual(
    specs.map((r) => r.trim()),
    ["fc2:output:nonfinite"],
    "stored exactly as typed, with no site or condition appended",
  );
  await p.locator(".tabs-container .tab.active", { hasText: "train.py" }).first().waitFor({ timeout: 20_000 });
  await cursorLine(p, 19, 20_000); // `return self.fc2(h)` in Net.forward: the line that called fc2
  await p.waitForTimeout(1000); // VS Code's own opening of the pause frame must not win afterwards
  await screenshot("e2e-stopped.png");
  assert.equal(await activeTab(p), "train.py", "the active editor is the user's file");
  await cursorLine(p, 19, 1000);
  assert.ok(await onScreen(p, found, "#banner"), "the banner is on screen");
  assert.ok(await onScreen(p, found, "#tensor-table thead"), "the table's header is on screen");
  assert.ok(await onScreen(p, found, "#tensor-table tbody tr"), "the table's first row is on screen");

  const title = await found.locator("#banner h2").textContent();
  assert.match(title ?? "", /fc2/, `banner names the module: ${title}`);
  assert.equal((await found.locator('[data-fact="module"]').textContent())?.split(" ")[0], "fc2");
  assert.equal(await found.locator('[data-fact="step"]').textContent(), "3");
  assert.equal(await found.locator('[data-fact="site"]').textContent(), "output");
  assert.match((await found.locator('[data-fact="where"]').textContent()) ?? "", /^origin/);

  // the offending tensor (fc2's output, [32, 4]) is listed and marked bad
  const badRows = found.locator("#tensor-table tr.bad");
  assert.ok((await badRows.count()) > 0, "a tensor with NaN is marked");
  const badShapes = await badRows.locator("td:nth-child(2)").allTextContents();
  assert.ok(badShapes.includes("[32, 4]"), `fc2's output [32, 4] is among the bad tensors: ${badShapes.join(" | ")}`);

  // the cause next to the result: what flowed into fc2, and fc2's parameters with their gradients
  assert.deepEqual(await found.locator("#hit-inputs tbody td.name").allTextContents(), ["input 0"]);
  assert.equal(await found.locator("#hit-inputs tbody td:nth-child(2)").textContent(), "[32, 16]");
  const params = await found.locator("#hit-params tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));
  assert.deepEqual(params, ["weight", "bias"]);
  assert.ok(
    await found.locator('#hit-params tr[data-name="weight"]').evaluate((r) => r.classList.contains("bad")),
    "the NaN weight is marked",
  );

  // the hit's histogram picture, rendered by the language server
  const img = found.locator('#detail img[data-kind="histogram"]');
  await found.locator('#detail img[data-kind="histogram"], #detail .error').first().waitFor({ timeout: 60_000 });
  const renderError = await found.locator("#detail .error").allTextContents();
  assert.deepEqual(renderError, [], "the language server rendered the hit's histogram");
  await found.waitForFunction(() => Array.from(document.querySelectorAll("#detail img")).every((i) => (i as HTMLImageElement).complete));
  assert.ok(await img.evaluate((node) => (node as HTMLImageElement).naturalWidth > 0), "the histogram image decoded");
  await found.waitForFunction(
    () => document.body.dataset.pictureMs !== undefined && document.body.dataset.serverPictureMs !== undefined,
    undefined,
    { timeout: 10_000 },
  );
  const timings = await found.evaluate(() => ({
    banner: document.body.dataset.bannerMs,
    picture: document.body.dataset.pictureMs,
    server: document.body.dataset.serverPictureMs,
  }));
  // a benchmark, not an assertion: the first stop also starts the view and the language server
  console.log(
    `timing (first tensor stop): stop -> banner and table ${timings.banner} ms, stop -> first picture ${timings.picture} ms, stop -> server picture ${timings.server} ms`,
  );
  const timeline = await readTimeline(found);
  console.log(`timing (first tensor stop), ms after the stop: ${describeTimeline(timeline)}`);
  // not a timing: the hit's snapshot came with the stop (the debuggee's tensorpeekSnapshot event), no evaluate was waited for
  assert.ok(timeline.pushed !== undefined && timeline.asked === undefined, `shown from the event: ${describeTimeline(timeline)}`);
});

step("the panel's detail card, Show in Tensor Panel and validation while paused", 180_000, async () => {
  const p = page!;
  const found = panel!;
  // clicking a row opens its detail card: the agent's finer histogram and, for 2-D, a heatmap
  await found.locator('#tensor-table tr[data-name="module.weight"]').click();
  assert.equal(await found.locator("#detail h3").textContent(), "module.weight");
  await found.locator('#detail img[data-kind="histogram"]').first().waitFor({ timeout: 60_000 });
  await found.locator('#detail img[data-kind="heatmap"]').first().waitFor({ timeout: 60_000 });
  await screenshot("e2e-detail.png");

  // "Show in Tensor Panel" from the Variables view's context menu selects that tensor
  await p.locator('.debug-pane .monaco-list-row[aria-label^="tensor, value"]').first().click({ button: "right" });
  // VS Code's menus act on the focused item; hovering focuses it, Enter runs it
  await p.locator(".monaco-menu .action-label", { hasText: "Show in Tensor Panel" }).first().hover();
  await p.keyboard.press("Enter");
  await found.waitForFunction(() => document.querySelector("#detail h3")?.textContent === "tensor");

  // while paused, the target quick pick offers the live modules and the agent validates
  await runCommand(p, "tensorpeek: Add Tensor Breakpoint…");
  await p.locator('.quick-input-list .monaco-list-row[aria-label="features.0"]').first().waitFor({ timeout: 20_000 });
  await answerQuickInput(p, "features.0", "features.0");
  await answerQuickInput(p, "grad_output", "grad_output");
  await answerQuickInput(p, "Expression", "Expression");
  await answerQuickInput(p, "norm >");
  await p.locator(".notification-toast", { hasText: "Tensor breakpoint not added" }).first().waitFor({ timeout: 20_000 });
  assert.equal(await p.locator(".monaco-list-row", { hasText: /^features\.0:/ }).count(), 0, "an invalid condition is not stored");
});

step("the hit count stays when another stack frame is selected", 120_000, async () => {
  const p = page!;
  const row = bpRow(p, "fc2:output:nonfinite").first();
  await row.filter({ hasText: "1 hit" }).waitFor({ timeout: 20_000 });
  // the user's frame (Net.forward) in Call Stack: a new snapshot for that frame
  await p.locator(".debug-call-stack .monaco-list-row", { hasText: "forward" }).first().click();
  await panel!.locator('#tensor-table tr[data-name="self.fc2.weight"]').waitFor({ timeout: 30_000 });
  await p.waitForTimeout(1000);
  assert.match((await row.textContent()) ?? "", /1 hit\b/, "still 1 hit after another frame is selected");
});

step("the Model tab finds a nested parameter the frame's tensor list does not reach", 60_000, async () => {
  const found = panel!;
  assert.equal(await found.locator('#tensor-table tr[data-name="self.features[0].weight"]').count(), 0, "deeper than the table goes");
  await found.locator("#tab-model").click();
  await found.locator("#model-search").fill("features.0.w");
  const row = found.locator('#model-table tr[data-name="features.0.weight"]');
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await found.locator("#model-table tbody tr[data-name]").count(), 1, "the filter leaves only that parameter");
  assert.equal(await row.locator("td:nth-child(2)").textContent(), "[16, 8]");
  await row.click();
  await found.locator('#model #detail img[data-kind="heatmap"]').first().waitFor({ timeout: 60_000 });
  await screenshot("e2e-model.png");
  await found.locator("#tab-tensors").click();
});

step("an image batch in the frame shows as images: an RGB composite and one tile per channel", 90_000, async () => {
  const p = page!;
  const found = panel!;
  await p.locator(".debug-call-stack .monaco-list-row", { hasText: "main" }).first().click();
  const row = found.locator('#tensor-table tr[data-name="images"]');
  await row.waitFor({ timeout: 30_000 });
  await row.click();
  const img = found.locator('#detail img[data-kind="channels"]');
  await img.first().waitFor({ timeout: 60_000 });
  assert.ok(await img.first().evaluate((i) => (i as HTMLImageElement).naturalWidth > 0), "the channel tiles decoded");
  assert.match((await found.locator("#detail figcaption", { hasText: "channels" }).first().textContent()) ?? "", /channels of images/);
  await img.first().scrollIntoViewIfNeeded();
  await screenshot("e2e-images.png");
});

step("Show Tensor Panel twice gives one Tensors tab, its histogram fills the wide tab, and it is the README picture", 120_000, async () => {
  const p = page!;
  await runCommand(p, "View: Toggle Panel Visibility"); // hide the bottom panel for a clean picture
  await runCommand(p, "tensorpeek: Show Tensor Panel");
  await runCommand(p, "tensorpeek: Show Tensor Panel");
  await p.waitForTimeout(1000);
  const tabs = await p.locator(".tabs-container .tab .label-name").allTextContents();
  assert.equal(tabs.filter((t) => t.trim() === "Tensors").length, 1, `one Tensors tab: ${tabs.join(", ")}`);
  await runCommand(p, "View: Focus Right Editor Group");
  await runCommand(p, "View: Toggle Maximize Editor Group");
  // in the wide tab the hit's histogram is drawn for the tab's width
  const tab = await waitFor(async () => {
    for (const f of p.frames()) {
      if (f === panel) continue;
      try {
        if (await f.$("#banner")) return f;
      } catch {
        // a frame that navigated away while we looked
      }
    }
    return undefined;
  }, 30_000);
  await tab.locator("#tab-tensors").click();
  const ratio = await tab.waitForFunction(
    () => {
      const img = document.querySelector<HTMLImageElement>('#detail img[data-kind="histogram"]');
      if (!img?.complete || img.naturalWidth === 0) return false;
      const r = img.getBoundingClientRect().width / document.body.clientWidth;
      return r >= 0.7 ? r : false;
    },
    undefined,
    { timeout: 30_000 },
  );
  console.log(`histogram width / panel width in the wide tab: ${(await ratio.jsonValue()) as number}`);
  await p.waitForTimeout(1000);
  const shot = await screenshot("tensor-panel.png");
  if (process.env.TENSORPEEK_UPDATE_DOCS_IMAGE === "1") {
    mkdirSync(path.join(REPO, "docs", "images"), { recursive: true });
    copyFileSync(shot, path.join(REPO, "docs", "images", "tensor-panel.png"));
  }
});
