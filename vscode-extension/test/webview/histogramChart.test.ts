/**
 * The hit's histogram the page draws itself (src/webview/histogramChart.ts) in headless
 * Chromium: there in the same render as the banner, before the server's picture; its bars
 * checked against the counts through the axes the page drew (tick labels and their positions),
 * NaN / Inf beside the plot in the bad colour with their counts, the legend clear of the plot,
 * sized to the panel, the hover readout as over the server's picture, debuggee strings as text,
 * and replaced by the server's picture when that comes (kept, with the error, when it fails).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { Hit, Snapshot, TensorSummary } from "../../src/wire/protocol";
import { launchChromium } from "../chromium";
import { fc2Snapshot, summary, XSS_NAME } from "../fixtures/snapshots";
import { openPanel, type PanelPage } from "./harness";

let browser: Browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

const CHART = '#detail svg[data-kind="histogram"][data-source="page"]';
const SERVER_IMG = '#detail img[data-kind="histogram"]';
const PICTURE = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200"><rect width="400" height="200" fill="#3794ff"/></svg>',
).toString("base64");

// 8 bins of width 1 over [-4, 4], one of them empty; 4 NaN and 2 +Inf beside them
const EDGES = [-4, -3, -2, -1, 0, 1, 2, 3, 4];
const COUNTS = [1, 3, 8, 20, 25, 9, 0, 4];
const hitSummary = summary({
  shape: [10, 8],
  numel: 76,
  nan: 4,
  posinf: 2,
  finite: 70,
  min: -3.9,
  max: 3.5,
  mean: 0.1,
  std: 1.2,
  hist: { edges: EDGES, counts: COUNTS },
});

function snapshotWith(s: TensorSummary | null, hit: Partial<Hit> = {}): Snapshot {
  return { ...fc2Snapshot, hit: { ...fc2Snapshot.hit!, summary: s, ...hit } };
}

async function paused(width: number, s: TensorSummary | null = hitSummary, hit: Partial<Hit> = {}): Promise<PanelPage> {
  const p = await openPanel(browser, { width, height: 800 });
  // the page's width reaches the state (as the host's viewport answer would) before the stop
  await p.page.waitForFunction(() =>
    (window as unknown as { __posted: Array<{ type: string }> }).__posted.some((m) => m.type === "viewport"),
  );
  await p.send({ type: "snapshot", snapshot: snapshotWith(s, hit), session: "Train" });
  await p.page.locator("#banner").waitFor();
  return p;
}

type Rect = { x: number; y: number; width: number; height: number };

/** Bars and ticks in the svg's own units (its viewBox), as the page drew them. */
async function drawn(page: Page) {
  return page.locator(CHART).evaluate((svg) => {
    const num = (e: Element, a: string) => Number(e.getAttribute(a));
    const all = (sel: string) => Array.from(svg.querySelectorAll(sel));
    return {
      bins: all("rect.bin").map((r) => ({ x: num(r, "x"), y: num(r, "y"), width: num(r, "width"), height: num(r, "height") })),
      xTicks: all("text.x-tick").map((t) => [Number(t.textContent), num(t, "x")] as [number, number]),
      yTicks: all("text.y-tick").map((t) => [t.textContent ?? "", num(t, "y") - 4] as [string, number]),
    };
  });
}

/** Linear interpolation of `v` through two drawn ticks [value, position]. */
function along(ticks: Array<[number, number]>, v: number): number {
  const [[v0, p0], [v1, p1]] = [ticks[0], ticks[ticks.length - 1]];
  return p0 + ((v - v0) * (p1 - p0)) / (v1 - v0);
}

async function box(page: Page, selector: string): Promise<Rect> {
  return page.locator(selector).evaluate((e) => {
    const r = e.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
}

const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

test("at a hit the page draws the histogram in the same render as the banner, before any server picture", async () => {
  const p = await openPanel(browser, { width: 900, height: 700 });
  await p.page.evaluate((chart) => {
    const w = window as unknown as { __atBanner?: { chart: boolean; rendering: boolean } };
    new MutationObserver((_, observer) => {
      if (!document.getElementById("banner")) return;
      w.__atBanner = {
        chart: document.querySelector(chart) !== null,
        rendering: document.body.textContent?.includes("Rendering…") ?? false,
      };
      observer.disconnect();
    }).observe(document.body, { childList: true, subtree: true });
  }, CHART);
  await p.send({ type: "snapshot", snapshot: snapshotWith(hitSummary), session: "Train" });
  await p.page.locator("#banner").waitFor();
  const atBanner = await p.page.evaluate(() => (window as unknown as { __atBanner?: unknown }).__atBanner);
  assert.deepEqual(atBanner, { chart: true, rendering: false }, "the chart came with the banner, no placeholder");
  assert.equal(await p.page.locator("#detail figcaption").textContent(), "histogram of fc2 output");
  assert.equal(await p.page.locator(`${CHART} text.hist-title`).textContent(), "fc2 output");
  assert.equal(await p.page.locator("#detail img").count(), 0);
  assert.deepEqual(await p.violations(), [], "drawn under the panel's CSP");
  await p.page.close();
});

test("the bars are the bins: one per bin, heights and positions from the counts and edges on the drawn axes", async () => {
  const p = await paused(900);
  const d = await drawn(p.page);
  assert.equal(d.bins.length, COUNTS.length);
  // the y axis is counts: integer ticks only
  for (const [label] of d.yTicks) assert.ok(Number.isInteger(Number(label)), `y tick ${label} is an integer`);
  const yTicks = d.yTicks.map(([l, y]) => [Number(l), y] as [number, number]);
  const bottom = along(yTicks, 0);
  d.bins.forEach((b, i) => {
    assert.ok(Math.abs(b.y + b.height - bottom) < 0.01, `bin ${i} stands on 0`);
    assert.ok(Math.abs(b.y - along(yTicks, COUNTS[i])) < 0.01, `bin ${i}'s top is at ${COUNTS[i]} on the y axis`);
    assert.ok(Math.abs(b.x - along(d.xTicks, EDGES[i])) < 0.01, `bin ${i} starts at ${EDGES[i]} on the x axis`);
    assert.ok(Math.abs(b.x + b.width - along(d.xTicks, EDGES[i + 1])) < 0.01, `bin ${i} ends at ${EDGES[i + 1]}`);
  });
  const byHeight = [...d.bins.keys()].sort((a, b) => d.bins[a].height - d.bins[b].height);
  const byCount = [...COUNTS.keys()].sort((a, b) => COUNTS[a] - COUNTS[b]);
  assert.deepEqual(byHeight, byCount, "taller bars for larger counts");
  assert.equal(d.bins[6].height, 0, "the empty bin has no height");
  // the marks: mean, min and max where the summary says, on the same axis
  const mark = (sel: string) => p.page.locator(`${CHART} ${sel}`).evaluate((l) => Number(l.getAttribute("x1")));
  assert.ok(Math.abs((await mark("line.hist-mean")) - along(d.xTicks, 0.1)) < 0.01);
  assert.ok(Math.abs((await mark('line[data-mark="min"]')) - along(d.xTicks, -3.9)) < 0.01);
  assert.ok(Math.abs((await mark('line[data-mark="max"]')) - along(d.xTicks, 3.5)) < 0.01);
  await p.page.close();
});

test("NaN and +Inf are bars of their own beside the plot, in the bad colour, labelled with their counts", async () => {
  const p = await paused(900);
  await p.page.evaluate(() => document.documentElement.style.setProperty("--vscode-errorForeground", "rgb(200, 10, 20)"));
  const side = p.page.locator(`${CHART} rect.nonfinite-bar`);
  assert.deepEqual(await side.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-kind"))), ["nan", "posinf"]);
  assert.deepEqual(await p.page.locator(`${CHART} text.nonfinite-count`).allTextContents(), ["4", "2"]);
  assert.deepEqual(await p.page.locator(`${CHART} text.nonfinite-label`).allTextContents(), ["NaN", "+Inf"]);
  const fills = await side.evaluateAll((rs) => rs.map((r) => getComputedStyle(r).fill));
  assert.deepEqual(fills, ["rgb(200, 10, 20)", "rgb(200, 10, 20)"], "the bad colour (the .bad rows' colour)");
  const binFill = await p.page
    .locator(`${CHART} rect.bin`)
    .first()
    .evaluate((r) => getComputedStyle(r).fill);
  assert.notEqual(binFill, fills[0], "value bars are not in the bad colour");
  const plot = await box(p.page, `${CHART} rect.plot-area`);
  for (const r of await side.evaluateAll((rs) => rs.map((e) => e.getBoundingClientRect().x)))
    assert.ok(r >= plot.x + plot.width, "beside the plot, not among the value bars");
  // their own scale: the larger count is the taller bar
  const heights = await side.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("height"))));
  assert.ok(heights[0] > heights[1] && heights[1] > 0);
  await p.page.close();
});

test("the legend sits above the plot, clear of the bars and the title, in a wide and in a narrow panel", async () => {
  for (const width of [1200, 420]) {
    const p = await paused(width);
    const legend = await box(p.page, `${CHART} .hist-legend`);
    const plot = await box(p.page, `${CHART} rect.plot-area`);
    const title = await box(p.page, `${CHART} text.hist-title`);
    assert.ok(!overlaps(legend, plot), `legend ${JSON.stringify(legend)} clear of the plot ${JSON.stringify(plot)} at ${width} px`);
    assert.ok(legend.y + legend.height <= plot.y, "above it");
    assert.ok(!overlaps(legend, title), `legend clear of the title at ${width} px`);
    assert.match((await p.page.locator(`${CHART} .hist-legend`).textContent()) ?? "", /count.*μ ± σ.*μ=0\.1.*min=-3\.9.*max=3\.5/);
    const svg = await box(p.page, CHART);
    const body = await p.page.evaluate(() => document.body.clientWidth);
    assert.ok(svg.x + svg.width <= body + 8 + 0.5, `the chart fits the ${width} px panel`);
    assert.ok(legend.x >= svg.x && legend.x + legend.width <= svg.x + svg.width, `the whole legend is in the chart at ${width} px`);
    assert.ok(title.x >= svg.x && title.x + title.width <= svg.x + svg.width, `the whole title is in the chart at ${width} px`);
    await p.page.mouse.move(svg.x + svg.width * 0.45, plot.y + plot.height * 0.6);
    await p.shot(`webview-hit-chart-${width >= 1000 ? "wide" : "narrow"}.png`);
    await p.page.close();
  }
});

test("in a wide panel the chart takes most of the width and keeps its proportions", async () => {
  const p = await paused(1200);
  const svg = await box(p.page, CHART);
  const body = await p.page.evaluate(() => document.body.clientWidth);
  assert.ok(svg.width >= 0.7 * body, `${svg.width} of ${body} px`);
  const [w, h] = await p.page.locator(CHART).evaluate((s) => [Number(s.getAttribute("width")), Number(s.getAttribute("height"))]);
  assert.equal(w, body - 40, "drawn at the server's size for the page (pictureSize of the page's width)");
  assert.ok(Math.abs(svg.height / svg.width - h / w) < 0.01, "scaled, not stretched");
  await p.page.close();
});

test("hovering a bar shows its range and count as over the server's picture, and outlines it", async () => {
  const p = await paused(900);
  const tip = p.page.locator("#detail .bin-tip");
  const plot = await box(p.page, `${CHART} rect.plot-area`);
  const bars = p.page.locator(`${CHART} rect.bin`);
  const expected = (i: number) => {
    const n = COUNTS[i];
    return `[${EDGES[i]}, ${EDGES[i + 1]}${i === COUNTS.length - 1 ? "]" : ")"}: ${n} value${n === 1 ? "" : "s"}`;
  };
  for (const i of [0, 3, 6, 7]) {
    const bar = await bars.nth(i).evaluate((r) => {
      const b = r.getBoundingClientRect();
      return { x: b.x, width: b.width };
    });
    await p.page.mouse.move(bar.x + bar.width / 2, plot.y + plot.height / 2);
    assert.equal(await tip.textContent(), expected(i), `bin ${i}`);
    assert.equal(await tip.getAttribute("data-at"), String(i));
    const outline = (await p.page.locator("#detail .bin-outline").boundingBox())!;
    assert.ok(Math.abs(outline.x - bar.x) < 1.5 && Math.abs(outline.width - bar.width) < 1.5, `bin ${i} outlined`);
  }
  assert.equal(await bars.nth(0).locator("title").textContent(), expected(0), "the bar's own tooltip says the same");
  // over the title, outside the plot: nothing
  await p.page.mouse.move(plot.x + 10, plot.y - 16);
  assert.equal(await tip.isHidden(), true);
  await p.page.close();
});

test("a module named like HTML is text in the chart and creates no element", async () => {
  const p = await paused(900, hitSummary, { module: XSS_NAME });
  assert.equal(await p.page.locator(`${CHART} text.hist-title`).textContent(), `${XSS_NAME} output`);
  assert.equal(await p.page.locator("#detail figcaption").textContent(), `histogram of ${XSS_NAME} output`);
  assert.equal(await p.page.locator("#panel img").count(), 0, "no <img> element was created from the name");
  await p.page.waitForTimeout(100);
  assert.equal(await p.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  await p.page.close();
});

test("the server's picture replaces the page's chart when it comes; a failed render keeps the chart with the error", async () => {
  const p = await paused(900);
  await p.send({
    type: "pictures",
    target: { hit: true },
    pictures: [{ kind: "histogram", title: "histogram of fc2 output", mime: "image/svg+xml", data: PICTURE }],
  });
  await p.page.locator(SERVER_IMG).waitFor();
  assert.equal(await p.page.locator(CHART).count(), 0, "the chart made way for the server's picture");
  assert.equal(await p.page.locator("#detail figure").count(), 1);
  // the next stop: the chart again; this time the server fails
  await p.send({ type: "snapshot", snapshot: snapshotWith(hitSummary, { step: 4 }), session: "Train" });
  await p.page.locator(CHART).waitFor();
  await p.send({ type: "pictures", target: { hit: true }, pictures: [], error: "the histogram could not be drawn: boom" });
  await p.page.locator("#detail .error").waitFor();
  assert.equal(await p.page.locator("#detail .error").textContent(), "the histogram could not be drawn: boom");
  assert.equal(await p.page.locator(CHART).count(), 1, "the page's chart stays");
  assert.equal(await p.page.locator(`${CHART} rect.bin`).count(), COUNTS.length);
  await p.page.close();
});

test("a constant tensor is one visible bar; only non-finite values and no values are said so", async () => {
  const constant = summary({ min: 2, max: 2, mean: 2, std: 0, hist: { edges: [2, 2], counts: [6] } });
  let p = await paused(900, constant);
  const d = await drawn(p.page);
  assert.equal(d.bins.length, 1);
  assert.ok(d.bins[0].width > 20 && d.bins[0].height > 20, `visible: ${JSON.stringify(d.bins[0])}`);
  const [lo, hi] = [along(d.xTicks, 2) - d.bins[0].x, d.bins[0].x + d.bins[0].width - along(d.xTicks, 2)];
  assert.ok(lo > 0 && hi > 0, "the bar is around the value 2");
  await p.shot("webview-hit-chart-constant.png");
  await p.page.close();

  const allNan = summary({ nan: 6, finite: 0, min: "nan", max: "nan", mean: "nan", std: "nan", hist: { edges: [], counts: [] } });
  p = await paused(900, allNan);
  assert.equal(await p.page.locator(`${CHART} text.hist-note`).textContent(), "no finite values");
  assert.equal(await p.page.locator(`${CHART} rect.bin`).count(), 0);
  assert.deepEqual(await p.page.locator(`${CHART} text.nonfinite-count`).allTextContents(), ["6"]);
  await p.shot("webview-hit-chart-nonfinite.png");
  await p.page.close();

  const empty = summary({ shape: [0], numel: 0, finite: 0, min: null, max: null, mean: null, std: null, hist: null });
  p = await paused(900, empty);
  assert.equal(await p.page.locator(`${CHART} text.hist-note`).textContent(), "no values");
  assert.equal(await p.page.locator(`${CHART} rect.nonfinite-bar`).count(), 0);
  await p.page.close();
});

test("the timings: the first picture is the painted chart; the server's picture is timed on its own", async () => {
  const p = await openPanel(browser, { width: 900, height: 700 });
  await p.send({ type: "snapshot", snapshot: snapshotWith(hitSummary), session: "Train", stoppedAt: Date.now() });
  await p.page.waitForFunction(() => document.body.dataset.pictureMs !== undefined);
  assert.equal(await p.page.evaluate(() => document.body.dataset.serverPictureMs), undefined, "no server picture yet");
  await p.send({
    type: "pictures",
    target: { hit: true },
    pictures: [{ kind: "histogram", title: "histogram of fc2 output", mime: "image/svg+xml", data: PICTURE }],
  });
  await p.page.waitForFunction(() => document.body.dataset.serverPictureMs !== undefined);
  const t = await p.page.evaluate(() => ({ ...document.body.dataset }));
  assert.ok(Number(t.bannerMs) <= Number(t.pictureMs) && Number(t.pictureMs) <= Number(t.serverPictureMs), JSON.stringify(t));
  const timeline = JSON.parse(t.timeline ?? "{}") as Record<string, number>;
  assert.ok(timeline.picture !== undefined && timeline.serverPicture !== undefined, JSON.stringify(timeline));
  await p.page.close();
});
