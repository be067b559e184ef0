/**
 * The Tensor panel page in headless Chromium, loaded exactly as the extension serves it
 * (panelHtml with its CSP, the bundled dist/webview.js, media/panel.css) from a stand-in
 * webview origin, with `acquireVsCodeApi` recording what the page posts to the host and
 * every CSP violation recorded.
 */
import { mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { panelHtml } from "../../src/panel/panelHtml";
import type { HostMessage } from "../../src/wire/webviewProtocol";

const EXT_DIR = path.resolve(__dirname, "../../..");
export const ARTIFACTS = path.resolve(EXT_DIR, "..", "test-artifacts");
const ORIGIN = "https://webview.test";
const FILES: Record<string, { file: string; type: string }> = {
  "/dist/webview.js": { file: path.join(EXT_DIR, "dist", "webview.js"), type: "text/javascript" },
  "/media/panel.css": { file: path.join(EXT_DIR, "media", "panel.css"), type: "text/css" },
};

export interface PanelPage {
  page: Page;
  send(message: HostMessage): Promise<void>;
  posted(): Promise<Array<Record<string, unknown>>>;
  violations(): Promise<string[]>;
  shot(name: string): Promise<void>;
}

export async function openPanel(browser: Browser, viewport = { width: 900, height: 700 }, deviceScaleFactor = 1): Promise<PanelPage> {
  const page = await browser.newPage({ viewport, deviceScaleFactor });
  const html = panelHtml({
    cspSource: ORIGIN,
    scriptUri: `${ORIGIN}/dist/webview.js`,
    styleUri: `${ORIGIN}/media/panel.css`,
    nonce: "testnonce0123456789",
  });
  await page.route(`${ORIGIN}/**`, (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === "/panel.html") return route.fulfill({ body: html, contentType: "text/html" });
    const f = FILES[url.pathname];
    return f ? route.fulfill({ body: readFileSync(f.file), contentType: f.type }) : route.fulfill({ status: 404 });
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __posted: unknown[]; __violations: string[]; acquireVsCodeApi: () => unknown };
    w.__posted = [];
    w.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    w.acquireVsCodeApi = () => ({ postMessage: (m: unknown) => w.__posted.push(m) });
  });
  await page.goto(`${ORIGIN}/panel.html`);
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
  return {
    page,
    send: async (message) => {
      await page.evaluate((m) => window.postMessage(m, "*"), message);
    },
    posted: () => page.evaluate(() => (window as unknown as { __posted: Array<Record<string, unknown>> }).__posted),
    violations: () => page.evaluate(() => (window as unknown as { __violations: string[] }).__violations),
    shot: async (name) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
    },
  };
}
