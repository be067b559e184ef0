/**
 * Headless Chromium for the tests: Debian's /usr/bin/chromium (or $CHROMIUM) driven by
 * playwright-core, which starts it with a fresh temporary --user-data-dir and deletes it on
 * close. Chromium still writes outside its profile (crash reports under XDG_CONFIG_HOME, the
 * dconf cache under XDG_CACHE_HOME, NSS under HOME), so it also gets a scratch home, removed
 * when the browser goes away.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { scratchHome } from "./scratchHome";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  const root = mkdtempSync(path.join(tmpdir(), "tensorpeek-chromium-"));
  const cleanUp = () => rmSync(root, { recursive: true, force: true });
  try {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
      env: { ...process.env, ...scratchHome(root) },
    });
    browser.on("disconnected", cleanUp);
    return browser;
  } catch (err) {
    cleanUp();
    throw err;
  }
}
