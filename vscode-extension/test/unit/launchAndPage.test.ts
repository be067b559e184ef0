/** Debug configuration, interpreter choice, the panel page's CSP and the picture requests. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultLaunchConfig, withBreakpointEnv } from "../../src/debug/launchConfig";
import { missingTensorpeekMessage, serverArgs } from "../../src/language/serverCommand";
import { contentSecurityPolicy, makeNonce, panelHtml } from "../../src/panel/panelHtml";
import { batchRequest, detailRequests, histogramRequest, layerRequests, needsRedraw, pictureSize } from "../../src/panel/panelPictures";
import { chooseInterpreter } from "../../src/platform/interpreterChoice";
import type { Detail, LayerRow } from "../../src/wire/protocol";
import { summary } from "../fixtures/snapshots";

test("the breakpoints file goes into the debuggee's env without dropping the user's variables", () => {
  const config = { type: "debugpy", request: "launch", name: "train", env: { CUDA_VISIBLE_DEVICES: "1", TENSORPEEK_BREAKPOINTS: "old" } };
  assert.deepEqual(withBreakpointEnv(config, "/s/breakpoints.json").env, {
    CUDA_VISIBLE_DEVICES: "1",
    TENSORPEEK_BREAKPOINTS: "/s/breakpoints.json",
  });
  assert.deepEqual(config.env.TENSORPEEK_BREAKPOINTS, "old", "the input is not mutated");
  assert.deepEqual(withBreakpointEnv({ type: "python", request: "launch", name: "n" }, "/f").env, { TENSORPEEK_BREAKPOINTS: "/f" });
});

test("F5 with no launch.json debugs the current file with the tensorpeek type; a real config is kept", () => {
  assert.equal(defaultLaunchConfig({ type: "", request: "", name: "" }).program, "${file}");
  const mine = { type: "debugpy", request: "attach", name: "mine" };
  assert.equal(defaultLaunchConfig(mine), mine);
});

test("interpreter: the setting (with ${workspaceFolder}), else the Python extension's, else python3", () => {
  assert.equal(chooseInterpreter("${workspaceFolder}/.venv/bin/python", "/usr/bin/python3.12", "/w"), "/w/.venv/bin/python");
  assert.equal(chooseInterpreter("  ", "/opt/py/bin/python", "/w"), "/opt/py/bin/python");
  assert.equal(chooseInterpreter(undefined, undefined, undefined), "python3");
});

test("the language server runs as a module, under debugpy only when a debug port is configured", () => {
  assert.deepEqual(serverArgs(undefined), ["-m", "tensorpeek.server"]);
  assert.deepEqual(serverArgs("not-a-port"), ["-m", "tensorpeek.server"]);
  assert.deepEqual(serverArgs("5678"), ["-m", "debugpy", "--listen", "127.0.0.1:5678", "--wait-for-client", "-m", "tensorpeek.server"]);
});

test("a missing tensorpeek is reported with the exact pip command for that interpreter", () => {
  const msg = missingTensorpeekMessage(
    "/w/.venv/bin/python",
    "Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'tensorpeek'\n",
  );
  assert.equal(
    msg,
    `/w/.venv/bin/python cannot import tensorpeek's language server (ModuleNotFoundError: No module named 'tensorpeek'). Install or upgrade it with: "/w/.venv/bin/python" -m pip install --upgrade tensorpeek`,
  );
});

test("the page's CSP allows only the nonce'd script, local styles and data: images", () => {
  const csp = contentSecurityPolicy("https://webview.example", "abc123");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'nonce-abc123'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/(?!webview\.example)/);
  const html = panelHtml({
    cspSource: "https://webview.example",
    scriptUri: 'https://webview.example/x.js?a="b"',
    styleUri: "https://webview.example/p.css",
    nonce: "abc123",
  });
  assert.match(html, /<script nonce="abc123" src="https:\/\/webview.example\/x.js\?a=&quot;b&quot;"><\/script>/);
  assert.equal((html.match(/<script/g) ?? []).length, 1, "one script tag, no inline script");
  assert.doesNotMatch(html, / on[a-z]+=/i, "no inline event handlers");
  const nonces = new Set(Array.from({ length: 50 }, makeNonce));
  assert.equal(nonces.size, 50);
  for (const n of nonces) assert.match(n, /^[A-Za-z0-9]{16,}$/);
});

test("the detail card asks for the agent's histogram, heatmap and channels payloads as sent", () => {
  const detail: Detail = { name: "w", summary: summary(), histogram: { name: "w", bins: 128 }, heatmap: { name: "w", shape: [2, 3] } };
  assert.deepEqual(
    detailRequests("w", detail, summary()).map((r) => [r.kind, r.payload]),
    [
      ["histogram", { name: "w", bins: 128 }],
      ["heatmap", { name: "w", shape: [2, 3] }],
    ],
  );
  // without detail (the agent failed), the snapshot's own summary still gives a histogram
  assert.deepEqual(detailRequests("w", undefined, summary()), [histogramRequest("w", summary())]);
});

test("an image's channels are drawn with the chosen RGB scaling, and a batch grid is built from one detail per image", () => {
  const image = (i: number) => ({ name: "images", shape: [5, 3, 2, 2], batch_index: i, channels: [{ index: 0, data: [[i]] }] });
  const detail = (i: number): Detail => ({ name: "images", summary: summary(), histogram: {}, channels: image(i) });
  const [, channels] = detailRequests("images", detail(2), summary(), "channel");
  assert.equal(channels.kind, "channels");
  assert.equal(channels.title, "channels of images (image 2)");
  assert.deepEqual(channels.payload, { ...image(2), normalize: "channel" });
  const grid = batchRequest("images", [5, 3, 2, 2], [0, 1, 2].map(detail), "image");
  assert.equal(grid?.title, "batch of images (the first 3 of 5)");
  assert.deepEqual(grid?.payload, {
    name: "images",
    shape: [5, 3, 2, 2],
    normalize: "image",
    images: [0, 1, 2].map((i) => ({ index: i, channels: image(i).channels })),
  });
  const matrix: Detail = { name: "w", summary: summary(), histogram: {}, heatmap: {} };
  assert.equal(batchRequest("w", [4, 4], [matrix], "image"), null, "no images, no grid");
});

test("the Layers chart uses the gradient site and the most informative recorded statistic", () => {
  const layers: LayerRow[] = [
    {
      module: "fc1",
      latest: { output: { step: 3, stats: { nonfinite: 0 } }, grad_output: { step: 3, stats: { norm: 0.5 } } },
      history: {
        grad_output: [
          { step: 2, stats: { norm: 0.4 } },
          { step: 3, stats: { norm: 0.5 } },
        ],
      },
    },
    { module: "fc2", latest: { grad_output: { step: 3, stats: { norm: "nan" } } }, history: {} },
  ];
  const [bars, series] = layerRequests(layers);
  assert.deepEqual(bars.payload, {
    metric: "norm",
    site: "grad_output",
    layers: [
      { module: "fc1", value: 0.5, flag: null },
      { module: "fc2", value: null, flag: "nonfinite" },
    ],
  });
  assert.deepEqual(series.payload, { metric: "norm", series: [{ module: "fc1", site: "grad_output", steps: [2, 3], values: [0.4, 0.5] }] });
  assert.deepEqual(layerRequests([]), []);
});

test("pictures are drawn to the page's width (less padding), within bounds, and again only when it changes by more than 15%", () => {
  assert.deepEqual(pictureSize(1240), { width: 1200, height: 360, pixelRatio: 1 });
  assert.deepEqual(pictureSize(200), { width: 320, height: 240, pixelRatio: 1 }, "never smaller than legible");
  assert.equal(pictureSize(800, 2).pixelRatio, 2, "a HiDPI screen gets twice the pixels");
  assert.equal(pictureSize(800, 1.25).pixelRatio, 1.3);
  assert.equal(pictureSize(800, Number.NaN).pixelRatio, 1);
  assert.equal(needsRedraw(pictureSize(1000, 1), pictureSize(1000, 2)), true, "a new pixel ratio draws again");
  assert.equal(pictureSize(10_000).width, 2400);
  assert.equal(pictureSize(2000).height, 420);
  assert.equal(needsRedraw(pictureSize(1000), pictureSize(1100)), false);
  assert.equal(needsRedraw(pictureSize(500), pictureSize(1240)), true);
});
