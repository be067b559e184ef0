/**
 * The parts' import boundaries, checked through the project's own eslint config: src/wire/
 * and src/webview/ also run in the page, so they may not reach `vscode`, the language client,
 * Node or (for wire/) any other part. Each case lints a one-line file at a path in the tree.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";
import { ESLint } from "eslint";

const EXT_DIR = path.resolve(__dirname, "../../..");
const eslint = new ESLint({ cwd: EXT_DIR });

/** The rule ids eslint reports for `code` as if it were the file `file` (relative to vscode-extension/). */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath: path.join(EXT_DIR, file) });
  return result.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

/** Asserts that the boundary rules (not some other rule) reject `code` in `file`. */
async function assertBlocked(file: string, code: string): Promise<void> {
  const found = await violations(file, code);
  const boundary = found.filter((m) => /^(@typescript-eslint\/no-restricted-imports|no-restricted-syntax): /.test(m));
  assert.ok(boundary.length > 0, `${file}: ${code} passed the boundary rules (${found.join("; ") || "no messages"})`);
}

test("src/wire/ cannot import vscode, in any form", async () => {
  for (const code of [
    'import * as vscode from "vscode";\nexport const v = vscode;',
    'import type { Uri } from "vscode";\nexport type U = Uri;',
    'export { window } from "vscode";',
    'export type U = import("vscode").Uri;',
    'export const v = import("vscode");',
    'import vscode = require("vscode");\nexport const v = vscode;',
  ]) {
    await assertBlocked("src/wire/probe.ts", code);
  }
});

test("src/wire/ cannot import the language client, Node or another part; it can import wire/", async () => {
  for (const source of ["vscode-languageclient/node", "node:fs", "fs/promises", "../panel/panelHtml", "../platform/log"]) {
    await assertBlocked("src/wire/probe.ts", `import * as m from "${source}";\nexport const v = m;`);
  }
  assert.deepEqual(await violations("src/wire/probe.ts", 'import { statValue } from "./codec";\nexport const v = statValue;'), []);
});

test("src/webview/ imports only webview/ and wire/, never vscode", async () => {
  assert.deepEqual(await violations("src/webview/probe.ts", 'import { statValue } from "../wire/codec";\nexport const v = statValue;'), []);
  for (const source of ["vscode", "../panel/tensorPanel", "node:crypto"]) {
    await assertBlocked("src/webview/probe.ts", `import * as m from "${source}";\nexport const v = m;`);
  }
});

test("the other parts may use vscode through the platform seam (the rule is scoped to wire/ and webview/)", async () => {
  assert.deepEqual(await violations("src/panel/probe.ts", 'import * as vscode from "vscode";\nexport const v = vscode;'), []);
  assert.deepEqual(await violations("src/debug/probe.ts", 'import { vscode } from "../platform/vscodeapi";\nexport const v = vscode;'), []);
});
