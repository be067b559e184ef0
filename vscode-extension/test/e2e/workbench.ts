/** Driving the VS Code workbench in headless Chromium: commands, quick inputs, webview frames. */
import { createWriteStream } from "node:fs";
import type { Browser, Frame, Page } from "playwright-core";

/** Opens the workbench on `folder`; the browser console goes to `consoleLog` (a test artifact). */
export async function openWorkbench(browser: Browser, url: string, folder: string, consoleLog: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const log = createWriteStream(consoleLog);
  page.on("console", (m) => log.write(`[${m.type()}] ${m.text()}\n`));
  page.on("pageerror", (e) => log.write(`[pageerror] ${e.message}\n`));
  page.on("close", () => log.end());
  await page.goto(`${url}/?folder=${encodeURIComponent(folder)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  // the extension host starts once the browser connects; wait for the status bar to settle
  await page.locator("#workbench\\.parts\\.statusbar").waitFor({ timeout: 60_000 });
  return page;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const quickInput = (page: Page) => page.locator(".quick-input-widget input");

/**
 * Runs a command by its palette title (F1, type, Enter). Extension commands appear once the
 * extension host has registered the extension, so the palette is retried until then.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const input = quickInput(page);
  for (;;) {
    await page.keyboard.press("Escape");
    await page.keyboard.press("F1");
    // the row whose label starts with the title (not a similar command ranked above it)
    const row = page.locator(".quick-input-list .monaco-list-row", { hasText: new RegExp(`^${escapeRegExp(title)}`) }).first();
    try {
      // the palette can close again before it is typed into (focus taken by a view that is
      // still opening): retry the whole step rather than wait on an input that went away
      await input.waitFor({ state: "visible", timeout: 5000 });
      await input.fill(`>${title}`, { timeout: 5000 });
      await row.waitFor({ timeout: 3000 });
      await row.click();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

/** Answers the open quick input: types `text` and accepts (the first match, or the text itself). */
export async function answerQuickInput(page: Page, text: string, expectRow?: string): Promise<void> {
  const input = quickInput(page);
  await input.waitFor({ state: "visible", timeout: 15_000 });
  await input.fill(text);
  if (expectRow) await page.locator(".quick-input-list .monaco-list-row", { hasText: expectRow }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press("Enter");
  // the next step of a multi-step input reuses the same widget; let this one close first
  await page.waitForTimeout(400);
}

/** The webview frame whose document has an element matching `selector` (webviews nest iframes). */
export async function findFrame(page: Page, selector: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      try {
        if (await frame.$(selector)) return frame;
      } catch {
        // frame navigated away while we looked
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no frame with ${selector} after ${timeoutMs} ms`);
}

/** Expands a side bar view (a pane of the current view container) by its title. */
export async function expandView(page: Page, title: string): Promise<void> {
  const header = page.locator(".pane-header", { has: page.locator("h3.title", { hasText: new RegExp(`^${title}$`) }) }).first();
  await header.waitFor({ timeout: 15_000 });
  if ((await header.getAttribute("aria-expanded")) !== "true") await header.click();
}

/** Opens a workspace file by name through "Go to File". */
export async function openFile(page: Page, name: string): Promise<void> {
  await runCommand(page, "Go to File");
  await answerQuickInput(page, name, name);
  await page.locator(".tabs-container .tab.active", { hasText: name }).waitFor({ timeout: 15_000 });
}

/** Moves the cursor of the active editor to `line` (1-based) through "Go to Line/Column". */
export async function goToLine(page: Page, line: number): Promise<void> {
  await runCommand(page, "Go to Line/Column");
  await answerQuickInput(page, `:${line}`);
  await cursorLine(page, line);
}

/** Waits until the status bar says the active editor's cursor is on `line`. */
export async function cursorLine(page: Page, line: number, timeoutMs = 15_000): Promise<void> {
  const item = page.locator("#status\\.editor\\.selection");
  await item.filter({ hasText: new RegExp(`Ln ${line}\\b`) }).waitFor({ timeout: timeoutMs });
}

/** Clicks the glyph margin (the gutter left of the line numbers) of `line` in the active editor. */
export async function clickGutter(page: Page, line: number): Promise<void> {
  const editor = page.locator(".editor-group-container.active .monaco-editor").first();
  const number = editor.locator(".margin-view-overlays .line-numbers", { hasText: new RegExp(`^${line}$`) }).first();
  // code lenses arrive from the language server and push lines down: click once the line stays put
  let last = Number.NaN;
  for (let i = 0; i < 40; i++) {
    const y = (await number.boundingBox())?.y ?? Number.NaN;
    if (y === last) break;
    last = y;
    await page.waitForTimeout(500);
  }
  const numberBox = await number.boundingBox();
  const marginBox = await editor.locator(".margin").first().boundingBox();
  if (!numberBox || !marginBox) throw new Error(`line ${line} is not on screen`);
  await page.mouse.click(marginBox.x + 6, numberBox.y + numberBox.height / 2);
}

/** The file name of the active editor tab (its aria-label starts with it). */
export async function activeTab(page: Page): Promise<string> {
  const label = (await page.locator(".editor-group-container.active .tab.active").first().getAttribute("aria-label")) ?? "";
  return label.split(",")[0].trim();
}

/** Waits until an element matching `selector` in the active editor sits on `line` (1-based). */
export async function decorationOnLine(page: Page, selector: string, line: number, timeoutMs: number): Promise<void> {
  await page.waitForFunction(
    ([sel, n]) => {
      const editor = document.querySelector(".editor-group-container.active .monaco-editor");
      const number = Array.from(editor?.querySelectorAll(".margin-view-overlays .line-numbers") ?? []).find(
        (e) => e.textContent?.trim() === String(n),
      );
      if (!number) return false;
      const b = number.getBoundingClientRect();
      return Array.from(editor?.querySelectorAll(sel) ?? []).some((d) => {
        const a = d.getBoundingClientRect();
        return Math.abs(a.top + a.height / 2 - (b.top + b.height / 2)) < b.height / 2;
      });
    },
    [selector, line] as const,
    { timeout: timeoutMs },
  );
}

/** Waits until the active editor highlights `line` as the debugger's current line. */
export function stoppedAtLine(page: Page, line: number, timeoutMs: number): Promise<void> {
  return decorationOnLine(page, ".view-overlays .debug-top-stack-frame-line", line, timeoutMs);
}
