/**
 * The Tensor panel page in headless Chromium, loaded exactly as the extension serves it
 * (panelHtml with its CSP, the bundled dist/webview.js, media/panel.css) from a stand-in
 * webview origin, with `acquireVsCodeApi` recording what the page posts to the host.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../chromium";
import type { HostMessage } from "../../src/wire/webviewProtocol";
import { fc2Snapshot, mixedScopes, summary, XSS_NAME } from "../fixtures/snapshots";
import { openPanel, type PanelPage } from "./harness";

const SVG = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#3794ff"/></svg>',
).toString("base64");

let browser: Browser;
let panelPage: PanelPage;
let page: Page;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

beforeEach(async () => {
  panelPage = await openPanel(browser);
  page = panelPage.page;
});

afterEach(async () => {
  await page?.close();
});

const send = (message: HostMessage): Promise<void> => panelPage.send(message);
const posted = (): Promise<Array<Record<string, unknown>>> => panelPage.posted();
const shot = (name: string): Promise<void> => panelPage.shot(name);

test("the page announces itself with the theme colours it will be drawn in", async () => {
  const [ready] = await posted();
  assert.equal(ready.type, "ready");
  assert.deepEqual(Object.keys(ready.theme as object).sort(), ["accent", "background", "fontSize", "foreground"]);
});

test("a snapshot renders the banner and a table with bad tensors first and marked", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator("#tensor-table").waitFor();
  assert.equal(await page.locator("#banner h2").textContent(), "Tensor breakpoint: fc2 output at step 3");
  assert.equal(await page.locator('[data-fact="step"]').textContent(), "3");
  assert.equal(await page.locator('[data-fact="module"]').textContent(), "fc2 (Linear)");
  assert.match((await page.locator('[data-fact="where"]').textContent()) ?? "", /^origin/);
  const names = await page.locator("#tensor-table tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));
  assert.deepEqual(names, ["tensor", "module.weight", "x", XSS_NAME]);
  const bad = await page.locator("#tensor-table tbody tr.bad").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));
  assert.deepEqual(bad, ["tensor", "module.weight"]);
  const cells = await page.locator('#tensor-table tr[data-name="tensor"] td').allTextContents();
  assert.deepEqual(cells.slice(0, 8), ["!tensor", "[32, 4]", "float32", "-2.5", "3.1", "0.2", "1.1", "4"]);
  await shot("webview-table.png");
});

test("at an origin hit the card shows the module's inputs and its parameters with their gradients", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator("#hit-inputs").waitFor();
  assert.equal(await page.locator("#hit-inputs caption").textContent(), "inputs of fc2");
  assert.deepEqual(await page.locator("#hit-inputs tbody td").allTextContents(), ["input 0", "[32, 16]", "-1 … 1", "0", "1.2", "0"]);
  const params = await page.locator("#hit-params tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));
  assert.deepEqual(params, ["weight", "bias"]);
  assert.ok(await page.locator('#hit-params tr[data-name="weight"]').evaluate((r) => r.classList.contains("bad")), "weight has a NaN");
  const weight = await page.locator('#hit-params tr[data-name="weight"] td').allTextContents();
  assert.equal(weight[5], "1", "the weight's NaN count");
  assert.equal(weight[9], "0.03", "the weight's gradient norm");
  assert.equal(await page.locator('#hit-params tr[data-name="bias"] td').last().textContent(), "—", "no gradient yet");
  // a backward hit labels what its inputs hold, with the label the engine gave each one
  const backward = {
    ...fc2Snapshot,
    hit: { ...fc2Snapshot.hit!, site: "grad_output" as const, inputs: [summary({ label: "grad_output[0]" })] },
  };
  await send({ type: "snapshot", snapshot: backward, session: "Train" });
  await page.locator("#hit-inputs caption", { hasText: "gradients flowing into fc2" }).waitFor();
  assert.equal(await page.locator("#hit-inputs tbody td.name").textContent(), "grad_output[0]");
  await shot("webview-cause.png");
});

test("tensors reached from module globals are marked as globals, locals are not", async () => {
  await send({ type: "snapshot", snapshot: { ...fc2Snapshot, tensors: mixedScopes }, session: "Train" });
  await page.locator("#tensor-table").waitFor();
  assert.equal(await page.locator('#tensor-table tr[data-name="last_batch"] .scope').textContent(), " global");
  assert.equal(await page.locator('#tensor-table tr[data-name="x"] .scope').count(), 0);
});

test("a tensor named like HTML renders as text and runs nothing; the CSP blocks injected inline script", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator("#tensor-table").waitFor();
  const cell = page.locator("#tensor-table tbody tr").last().locator("td.name");
  assert.equal(await cell.textContent(), XSS_NAME);
  assert.equal(await page.locator("#panel img").count(), 0, "no <img> element was created from the name");
  assert.equal(await page.locator("#layers").count(), 0);
  // an inline script that got into the DOM anyway would still be refused by the CSP
  await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__inline = 1";
    document.body.append(s);
  });
  await page.waitForTimeout(200);
  const state = await page.evaluate(() => ({
    pwned: (window as unknown as { __pwned?: number }).__pwned,
    inline: (window as unknown as { __inline?: number }).__inline,
    violations: (window as unknown as { __violations: string[] }).__violations,
  }));
  assert.equal(state.pwned, undefined);
  assert.equal(state.inline, undefined);
  assert.deepEqual(state.violations, ["script-src-elem inline"], "the only CSP violation is the injected script");
});

test("clicking a row, or Enter on it, posts selectTensor with its name and expression", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator('#tensor-table tr[data-name="x"]').click();
  await page.locator('#tensor-table tr[data-name="module.weight"]').focus();
  await page.keyboard.press("Enter");
  const selects = (await posted()).filter((m) => m.type === "selectTensor");
  assert.deepEqual(selects, [
    { type: "selectTensor", name: "x", expression: "x" },
    { type: "selectTensor", name: "module.weight", expression: "module.weight" },
  ]);
  assert.equal(await page.locator("tr.selected").getAttribute("data-name"), "module.weight");
  assert.equal(
    await page.evaluate(() => document.activeElement?.getAttribute("data-name")),
    "module.weight",
    "focus survives the re-render",
  );
});

test("the detail card shows the pictures the host rendered for the selected tensor", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator('#tensor-table tr[data-name="tensor"]').click();
  assert.equal(await page.locator("#detail h3").textContent(), "tensor");
  await send({
    type: "pictures",
    target: { tensor: "tensor" },
    pictures: [
      { kind: "histogram", title: "histogram of tensor", mime: "image/svg+xml", data: SVG },
      { kind: "heatmap", title: "heatmap of tensor", mime: "image/svg+xml", data: SVG },
    ],
  });
  const imgs = page.locator("#detail img");
  await imgs.first().waitFor();
  assert.deepEqual(await imgs.evaluateAll((els) => els.map((e) => e.getAttribute("data-kind"))), ["histogram", "heatmap"]);
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#detail img")).every((i) => (i as HTMLImageElement).complete));
  assert.deepEqual(
    await imgs.evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth)),
    [40, 40],
    "data: images load under the CSP",
  );
  await shot("webview-detail.png");
});

test("sorting by a column header reorders the rows", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator('button[data-sort="name"]').click();
  const names = await page.locator("#tensor-table tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));
  assert.deepEqual(names, [XSS_NAME, "module.weight", "tensor", "x"]);
  assert.equal(await page.locator('th[aria-sort="ascending"] button').getAttribute("data-sort"), "name");
});

test("the Layers tab lists each watched layer, marks fc2, and asks the host for its charts", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator("#tab-layers").click();
  await page.locator("#layer-table").waitFor();
  assert.ok((await posted()).some((m) => m.type === "showLayers"));
  const rows = await page
    .locator("#layer-table tbody tr")
    .evaluateAll((trs) => trs.map((r) => [r.getAttribute("data-module"), r.className]));
  assert.deepEqual(rows, [
    ["fc1", ""],
    ["fc2", "bad"],
    [XSS_NAME, ""],
  ]);
  assert.equal(await page.locator('#layer-table tr[data-module="fc2"] td').nth(3).textContent(), "nonfinite 4 · norm nan");
  assert.equal(await page.locator('#layer-table tr[data-module="fc1"] td.spark').textContent(), "▁▄█");
  await send({
    type: "pictures",
    target: { layers: true },
    pictures: [{ kind: "layers", title: "norm of output per layer", mime: "image/svg+xml", data: SVG }],
  });
  await page.locator('#layers img[data-kind="layers"]').waitFor();
  // keyboard: arrow keys move between the tabs
  await page.locator("#tab-layers").focus();
  await page.keyboard.press("ArrowLeft");
  await page.locator("#tensor-table").waitFor();
  await shot("webview-layers.png");
});

test("'Show in Tensor Panel' from the Variables view selects that tensor's row", async () => {
  await send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await page.locator("#tab-layers").click();
  await send({ type: "focusTensor", name: "x" });
  await page.locator("#tensor-table").waitFor();
  assert.equal(await page.locator("tr.selected").getAttribute("data-name"), "x");
  assert.equal(await page.locator("#detail h3").textContent(), "x");
});
