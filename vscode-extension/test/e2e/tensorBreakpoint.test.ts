/**
 * End to end in a real VS Code (code-server + headless Chromium): the packaged extension,
 * a tensor breakpoint added through the command palette, a debug session of a training script
 * with a NaN planted in `fc2` at step 3, and the Tensor panel at the stop.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Frame, Page } from "playwright-core";
import { ARTIFACTS, EXT_DIR, REPO, startCodeServer, type CodeServer } from "./codeServer";
import { launchChromium } from "../chromium";
import { answerQuickInput, expandView, findFrame, openWorkbench, runCommand } from "./workbench";

const VSIX = path.join(EXT_DIR, "dist", "tensorpeek.vsix");
const FIXTURE = path.join(EXT_DIR, "test", "fixtures", "workspace");
const PYTHON = process.env.TENSORPEEK_E2E_PYTHON ?? path.join(REPO, ".venv", "bin", "python");

let server: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;

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

test(
  "a tensor breakpoint added from the palette stops at the planted NaN in fc2 and the panel shows it",
  { timeout: 240_000 },
  async () => {
    const p = page!;
    await runCommand(p, "tensorpeek: Add Tensor Breakpoint…");
    await answerQuickInput(p, "fc2");
    await answerQuickInput(p, "output", "output");
    await answerQuickInput(p, "nonfinite", "nonfinite");

    await runCommand(p, "View: Show Run and Debug");
    await expandView(p, "Tensor Breakpoints");
    await expandView(p, "Tensors");
    const bpRow = p.locator(".monaco-list-row", { hasText: "fc2:output:nonfinite" });
    await bpRow.first().waitFor({ timeout: 20_000 });

    await runCommand(p, "Debug: Start Debugging");
    // the side bar's Tensors view fills in at the stop
    const panel: Frame = await findFrame(p, "#banner", 120_000);
    await panel.locator("#banner h2").waitFor();
    await screenshot("e2e-stopped.png");

    const title = await panel.locator("#banner h2").textContent();
    assert.match(title ?? "", /fc2/, `banner names the module: ${title}`);
    assert.equal((await panel.locator('[data-fact="module"]').textContent())?.split(" ")[0], "fc2");
    assert.equal(await panel.locator('[data-fact="step"]').textContent(), "3");
    assert.equal(await panel.locator('[data-fact="site"]').textContent(), "output");
    assert.match((await panel.locator('[data-fact="where"]').textContent()) ?? "", /^origin/);

    // the offending tensor (fc2's output, [32, 4]) is listed and marked bad
    const badRows = panel.locator("#tensor-table tr.bad");
    assert.ok((await badRows.count()) > 0, "a tensor with NaN is marked");
    const badShapes = await badRows.locator("td:nth-child(2)").allTextContents();
    assert.ok(badShapes.includes("[32, 4]"), `fc2's output [32, 4] is among the bad tensors: ${badShapes.join(" | ")}`);

    // the hit's histogram picture, rendered by the language server
    const img = panel.locator('#detail img[data-kind="histogram"]');
    await panel.locator('#detail img[data-kind="histogram"], #detail .error').first().waitFor({ timeout: 60_000 });
    const renderError = await panel.locator("#detail .error").allTextContents();
    assert.deepEqual(renderError, [], "the language server rendered the hit's histogram");
    await panel.waitForFunction(() => Array.from(document.querySelectorAll("#detail img")).every((i) => (i as HTMLImageElement).complete));
    assert.ok(await img.evaluate((node) => (node as HTMLImageElement).naturalWidth > 0), "the histogram image decoded");

    // clicking a row opens its detail card: the agent's finer histogram and, for 2-D, a heatmap
    await panel.locator('#tensor-table tr[data-name="module.weight"]').click();
    assert.equal(await panel.locator("#detail h3").textContent(), "module.weight");
    await panel.locator('#detail img[data-kind="histogram"]').first().waitFor({ timeout: 60_000 });
    await panel.locator('#detail img[data-kind="heatmap"]').first().waitFor({ timeout: 60_000 });
    await screenshot("e2e-detail.png");

    // "Show in Tensor Panel" from the Variables view's context menu selects that tensor
    await p.locator('.debug-pane .monaco-list-row[aria-label^="tensor, value"]').first().click({ button: "right" });
    // VS Code's menus act on the focused item; hovering focuses it, Enter runs it
    await p.locator(".monaco-menu .action-label", { hasText: "Show in Tensor Panel" }).first().hover();
    await p.keyboard.press("Enter");
    await panel.waitForFunction(() => document.querySelector("#detail h3")?.textContent === "tensor");

    // while paused, the target quick pick offers the live modules and the agent validates
    await runCommand(p, "tensorpeek: Add Tensor Breakpoint…");
    await p.locator(".quick-input-list .monaco-list-row", { hasText: /^fc1$/ }).first().waitFor({ timeout: 20_000 });
    await answerQuickInput(p, "fc1", "fc1");
    await answerQuickInput(p, "grad_output", "grad_output");
    await answerQuickInput(p, "Expression", "Expression");
    await answerQuickInput(p, "norm >");
    await p.locator(".notification-toast", { hasText: "Tensor breakpoint not added" }).first().waitFor({ timeout: 20_000 });
    assert.equal(await p.locator(".monaco-list-row", { hasText: /^fc1:/ }).count(), 0, "an invalid condition is not stored");

    // the same page as an editor tab, for a large screenshot
    await runCommand(p, "View: Toggle Panel Visibility"); // hide the Debug Console for a clean picture
    await runCommand(p, "tensorpeek: Show Tensor Panel");
    await runCommand(p, "View: Focus Right Editor Group");
    await runCommand(p, "View: Toggle Maximize Editor Group");
    await p.waitForTimeout(2500);
    const shot = await screenshot("tensor-panel.png");
    if (process.env.TENSORPEEK_UPDATE_DOCS_IMAGE === "1") {
      mkdirSync(path.join(REPO, "docs", "images"), { recursive: true });
      copyFileSync(shot, path.join(REPO, "docs", "images", "tensor-panel.png"));
    }
  },
);
