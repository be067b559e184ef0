/**
 * Hovering a histogram picture in headless Chromium: the renderer's hover map (where the bins'
 * axes are in the picture, the value range across them, the bins) turns the pointer position
 * into the bin's range and count, computed here independently from the same numbers. Image
 * tiles and the batch grid give the tensor index and value under the pointer.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { batchRequest } from "../../src/panel/panelPictures";
import { agentExpression } from "../../src/wire/agentProxy";
import { detailCodec, replyCodec } from "../../src/wire/protocol";
import { pictureCodec } from "../../src/wire/render";
import { launchChromium } from "../chromium";
import { fc2Snapshot, summary } from "../fixtures/snapshots";
import { runPython } from "../unit/python";
import { openPanel } from "./harness";

let browser: Browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

// a 400×200 picture whose bins' axes span 10%..90% across and 10%..80% down, values -2..2
const PICTURE = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200"><rect width="400" height="200" fill="#3794ff"/></svg>',
).toString("base64");
const hover = { kind: "bins" as const, plot: [0.1, 0.1, 0.9, 0.8], xlim: [-2, 2], edges: [-2, -1, 0, 1, 2], counts: [5, 1, 0, 12] };

test("hovering a histogram bin shows its range and count and outlines it; outside the bins nothing", async () => {
  const p = await openPanel(browser, { width: 900, height: 700 });
  await p.send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await p.send({
    type: "pictures",
    target: { hit: true },
    pictures: [{ kind: "histogram", title: "histogram of fc2 output", mime: "image/svg+xml", data: PICTURE, hover }],
  });
  const img = p.page.locator('#detail img[data-kind="histogram"]');
  await img.waitFor();
  const box = (await img.boundingBox())!;
  const tip = p.page.locator("#detail .bin-tip");
  // the oracle: value = xlim lo + (fx - left) / (right - left) * span; bin = floor(value) + 2
  const cases: Array<[number, string, string]> = [
    [-1.5, "0", "[-2, -1): 5 values"],
    [-0.5, "1", "[-1, 0): 1 value"],
    [0.25, "2", "[0, 1): 0 values"],
    [1.9, "3", "[1, 2]: 12 values"],
  ];
  for (const [value, index, text] of cases) {
    const fx = 0.1 + ((value + 2) / 4) * 0.8;
    await p.page.mouse.move(box.x + fx * box.width, box.y + 0.5 * box.height);
    assert.equal(await tip.textContent(), text, `at value ${value}`);
    assert.equal(await tip.getAttribute("data-at"), index);
  }
  const outline = await p.page.locator("#detail .bin-outline").boundingBox();
  // the last bin, [1, 2], spans fractions 0.7..0.9 of the picture's width
  assert.ok(outline && Math.abs(outline.x - (box.x + 0.7 * box.width)) < 1.5 && Math.abs(outline.width - 0.2 * box.width) < 1.5);
  await p.shot("webview-histogram-hover.png");
  // below the axes (the tick labels) and left of them: no bin
  await p.page.mouse.move(box.x + 0.5 * box.width, box.y + 0.9 * box.height);
  assert.equal(await tip.isHidden(), true);
  await p.page.mouse.move(box.x + 0.05 * box.width, box.y + 0.5 * box.height);
  assert.equal(await tip.isHidden(), true);
  await p.page.close();
});

test("hovering an image tile shows the tensor index and value under the pointer; the RGB tile shows all three", async () => {
  const p = await openPanel(browser, { width: 900, height: 700 });
  await p.send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  // a batch of 3-channel 4×8 images reduced to 2×4 cells (2×2 blocks): RGB first, then channel 0
  const grid = (c: number) => [0, 1].map((i) => [0, 1, 2, 3].map((j) => c * 10 + i * 4 + j));
  const pixels = {
    kind: "pixels" as const,
    name: "images",
    shape: [4, 8],
    batch_index: 2,
    batched: true,
    tiles: [
      { plot: [0.0, 0.2, 0.5, 0.7], channels: ["0", "1", "2"], rows: 2, cols: 4 },
      { plot: [0.5, 0.2, 1.0, 0.7], channels: ["0"], rows: 2, cols: 4 },
    ],
    grids: { "0": grid(0), "1": grid(1), "2": grid(2) },
  };
  await p.send({
    type: "pictures",
    target: { hit: true },
    pictures: [{ kind: "channels", title: "channels of images", mime: "image/svg+xml", data: PICTURE, hover: pixels }],
  });
  const img = p.page.locator('#detail img[data-kind="channels"]');
  await img.waitFor();
  const box = (await img.boundingBox())!;
  const tip = p.page.locator("#detail .bin-tip");
  // cell (1, 2) of the RGB tile: rows 2:4, cols 4:6 of image 2
  await p.page.mouse.move(box.x + (0 + (2.5 / 4) * 0.5) * box.width, box.y + (0.2 + (1.5 / 2) * 0.5) * box.height);
  assert.equal(await tip.textContent(), "mean of images[2, :, 2:4, 4:6] = (6, 16, 26)");
  // cell (0, 3) of the channel-0 tile
  await p.page.mouse.move(box.x + (0.5 + (3.5 / 4) * 0.5) * box.width, box.y + (0.2 + (0.5 / 2) * 0.5) * box.height);
  assert.equal(await tip.textContent(), "mean of images[2, 0, 0:2, 6:8] = 3");
  const outline = (await p.page.locator("#detail .bin-outline").boundingBox())!;
  assert.ok(Math.abs(outline.x - (box.x + (0.5 + 3 * 0.125) * box.width)) < 1.5, "the cell is outlined");
  // outside the tiles: nothing
  await p.page.mouse.move(box.x + 0.5 * box.width, box.y + 0.9 * box.height);
  assert.equal(await tip.isHidden(), true);
  await p.page.close();
});

test("an image batch's card offers the RGB scaling, the image index and the batch grid, and asks the host for them", async () => {
  const p = await openPanel(browser, { width: 900, height: 700 });
  const images = { name: "images", expression: "images", summary: summary({ shape: [6, 3, 8, 8], numel: 1152 }) };
  const plain = { name: "w", expression: "w", summary: summary({ shape: [4, 4], numel: 16 }) };
  await p.send({ type: "snapshot", snapshot: { ...fc2Snapshot, tensors: [images, plain] }, session: "Train" });
  await p.page.locator('#tensor-table tr[data-name="w"]').click();
  assert.equal(await p.page.locator(".image-controls").count(), 0, "a matrix is not an image");
  await p.page.locator('#tensor-table tr[data-name="images"]').click();
  await p.page.locator("#image-normalize").selectOption("channel");
  await p.page.locator("#image-index").fill("4");
  await p.page.locator("#image-index").press("Enter");
  await p.page.locator("#image-grid").check();
  const asked = (await p.posted()).filter((m) => m.type === "imageOptions").map((m) => m.options);
  assert.deepEqual(asked, [
    { batchIndex: 0, normalize: "channel", grid: false },
    { batchIndex: 4, normalize: "channel", grid: false },
    { batchIndex: 4, normalize: "channel", grid: true },
  ]);
  // an index outside the batch is put back, and nothing is asked
  await p.page.locator("#image-index").fill("6");
  await p.page.locator("#image-index").press("Enter");
  assert.equal(await p.page.locator("#image-index").inputValue(), "4");
  assert.equal((await p.posted()).filter((m) => m.type === "imageOptions").length, 3);
  await p.page.close();
});

test("the page tells the host its width and its device pixel ratio, so pictures get the screen's pixels", async () => {
  for (const ratio of [1, 2]) {
    const p = await openPanel(browser, { width: 1000, height: 600 }, ratio);
    await p.page.waitForFunction(() =>
      (window as unknown as { __posted: Array<{ type: string }> }).__posted.some((m) => m.type === "viewport"),
    );
    const viewport = (await p.posted()).find((m) => m.type === "viewport");
    const body = await p.page.evaluate(() => document.body.clientWidth);
    assert.deepEqual(viewport, { type: "viewport", width: body, pixelRatio: ratio });
    await p.page.close();
  }
});

// the real chain behind the panel's batch grid: the agent's `detail` of each image, the host's
// `batchRequest`, the renderer's `batch` picture and its hover map; the oracle is the tensor's
// own formula, images[n, c, i, j] = n + c/10 + i/100 + j/1000
const BATCH_AGENT = `
import json, sys
import torch
from tensorpeek import agent
n, c, i, j = torch.meshgrid(*(torch.arange(d) for d in (5, 3, 6, 8)), indexing="ij")
images = n + c / 10 + i / 100 + j / 1000
for line in sys.stdin:
    print(json.dumps(agent.request(json.loads(line), {"images": images})))
`;
const BATCH_RENDER = `
import base64, json, sys
from tensorpeek.render import render_picture
r = json.loads(sys.stdin.read())
p = render_picture("batch", r["payload"], width=r["width"], height=r["height"])
print(json.dumps({"data": base64.b64encode(p.data).decode(), "hover": p.hover}))
`;
// the request exactly as the extension's evaluate expression carries it (a JSON string literal)
const literalOf = (expr: string): string =>
  JSON.parse(expr.slice(expr.indexOf("(", expr.indexOf("request")) + 1, expr.lastIndexOf(", locals()"))) as string;

test("hovering the batch grid names the image, the pixel and its RGB values, as the tensor holds them", async () => {
  const shape = [5, 3, 6, 8];
  const asks = [0, 1, 2, 3, 4].map((k) =>
    JSON.stringify(literalOf(agentExpression("detail", { expression: "images", batch_index: k, heatmap_size: 32 }))),
  );
  const details = runPython(BATCH_AGENT, `${asks.join("\n")}\n`)
    .trim()
    .split("\n")
    .map((line) => {
      const reply = replyCodec.decode(JSON.parse(JSON.parse(line) as string));
      assert.ok(reply.ok, `detail failed: ${JSON.stringify(reply)}`);
      return detailCodec.decode(reply.result);
    });
  const request = batchRequest("images", shape, details, "image");
  assert.ok(request, "the details are images");
  const rendered = JSON.parse(runPython(BATCH_RENDER, JSON.stringify({ payload: request.payload, width: 600, height: 300 }))) as {
    data: string;
    hover: unknown;
  };
  const picture = pictureCodec.decode({ mime: "image/svg+xml", ...rendered });
  assert.ok(picture.hover?.kind === "pixels", "the batch picture comes with a pixels hover map");
  const hover = picture.hover;
  assert.deepEqual(
    hover.tiles.map((t) => t.batch_index),
    [0, 1, 2, 3, 4],
  );

  const p = await openPanel(browser, { width: 900, height: 700 });
  await p.send({ type: "snapshot", snapshot: fc2Snapshot, session: "Train" });
  await p.send({ type: "pictures", target: { hit: true }, pictures: [{ kind: "batch", title: request.title, ...picture }] });
  const img = p.page.locator('#detail img[data-kind="batch"]');
  await img.waitFor();
  const box = (await img.boundingBox())!;
  const tip = p.page.locator("#detail .bin-tip");
  const value = (k: number, ch: number, i: number, j: number) => k + ch / 10 + i / 100 + j / 1000;
  for (const [k, i, j] of [
    [0, 0, 0],
    [2, 5, 7],
    [3, 1, 4],
    [4, 4, 2],
  ]) {
    const [left, top, right, bottom] = hover.tiles[k].plot;
    await p.page.mouse.move(
      box.x + (left + ((j + 0.5) / 8) * (right - left)) * box.width,
      box.y + (top + ((i + 0.5) / 6) * (bottom - top)) * box.height,
    );
    const m = /^images\[(\d+), :, (\d+), (\d+)\] = \((\S+), (\S+), (\S+)\)$/.exec((await tip.textContent()) ?? "");
    assert.ok(m, `the readout over image ${k}: ${await tip.textContent()}`);
    assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[3])], [k, i, j]);
    for (const ch of [0, 1, 2]) {
      const shown = Number(m[4 + ch]);
      const want = value(k, ch, i, j);
      assert.ok(Math.abs(shown - want) <= 5e-4 * Math.abs(want) + 1e-6, `images[${k}, ${ch}, ${i}, ${j}]: shown ${shown}, holds ${want}`);
    }
  }
  await p.shot("webview-batch-hover.png");
  // between the tiles (the gap under the first row's titles) and outside the picture's tiles: nothing
  await p.page.mouse.move(box.x + 0.995 * box.width, box.y + 0.995 * box.height);
  assert.equal(await tip.isHidden(), true);
  await p.page.close();
});
