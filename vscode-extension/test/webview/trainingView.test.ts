/**
 * The Training and Graph tabs in headless Chromium, fed the `training` / `step_layers` /
 * `tensorpeek/layoutGraph` shapes of docs/training-protocol.md. Positions are checked against
 * the chart's own axis (the tick labels the page drew) and the layout the server gave.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { trainingCodec } from "../../src/wire/protocol";
import { graphLayoutCodec } from "../../src/wire/render";
import { launchChromium } from "../chromium";
import { fc2Snapshot, XSS_NAME } from "../fixtures/snapshots";
import { runPython } from "../unit/python";
import { layersAtStep7, layout, lossAt, training } from "../fixtures/training";
import { openPanel, type PanelPage } from "./harness";

let browser: Browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

const snapshot = {
  ...fc2Snapshot,
  layers: [
    ...fc2Snapshot.layers,
    {
      module: "block.fc1",
      latest: { output: { step: 10, stats: { nonfinite: 3, norm: "nan" as const } } },
      history: { output: [{ step: 10, stats: { nonfinite: 3, norm: "nan" as const } }] },
    },
  ],
  model: {
    root: "model",
    module_class: "ResNet",
    modules: [
      { path: "", module_class: "ResNet", params: 0 },
      { path: "block.fc1", module_class: "Linear", params: 2 },
    ],
    params: [
      {
        name: "block.fc1.weight",
        module: "block.fc1",
        expression: "model.block.fc1.weight",
        shape: [8, 8],
        dtype: "float32",
        stats: { min: -1, max: 1, mean: 0, std: 0.5, norm: 4.25, nonfinite: 0 },
        grad: { min: -1, max: 1, mean: 0, std: 0.5, norm: 38.5, nonfinite: 2 },
      },
    ],
    truncated: false,
  },
};

async function pausedWithTraining(width = 900): Promise<PanelPage> {
  const p = await openPanel(browser, { width, height: 900 });
  await p.send({ type: "snapshot", snapshot, session: "Train" });
  await p.send({ type: "training", training, layout });
  await p.page.locator("#tab-training").click();
  await p.page.locator('svg[data-chart="loss"]').waitFor();
  return p;
}

/** The chart's x axis as the page drew it: pixel x of each step tick label. */
async function stepTicks(p: PanelPage, chart: string): Promise<Map<number, number>> {
  const ticks = await p.page
    .locator(`svg[data-chart="${chart}"] text.tick[text-anchor="middle"]`)
    .evaluateAll((ts) => ts.map((t) => [Number(t.textContent), Number(t.getAttribute("x"))] as [number, number]));
  return new Map(ticks);
}

/** Pixel x of `step` by linear interpolation between two drawn tick labels. */
function xOf(ticks: Map<number, number>, step: number): number {
  const [[s0, x0], [s1, x1]] = [...ticks.entries()];
  return x0 + ((step - s0) * (x1 - x0)) / (s1 - s0);
}

test("the Training tab draws the loss with the paused step, the spike and the NaN marked, and lr and grad norm beside it", async () => {
  const p = await pausedWithTraining();
  const charts = await p.page.locator("figure.chart").evaluateAll((fs) => fs.map((f) => f.getAttribute("data-chart")));
  assert.deepEqual(charts, ["loss", "accuracy", "learning rate", "gradient norm", "update ratio ‖Δw‖/‖w‖"]);
  const ticks = await stepTicks(p, "loss");
  assert.ok([...ticks.keys()].every(Number.isInteger), "integer step ticks");
  const loss = p.page.locator('svg[data-chart="loss"]');
  // one vertex per finite loss, broken at the NaN: 11 finite points in two runs
  const d = (await loss.locator("path.curve").getAttribute("d")) ?? "";
  assert.equal((d.match(/[ML]/g) ?? []).length, 11);
  assert.equal((d.match(/M/g) ?? []).length, 2, "the line is broken where the loss is NaN");
  const vertices = [...d.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  // y grows downwards: the spike (9.5) is the highest vertex, at step 7
  const top = vertices.reduce((a, b) => (b[1] < a[1] ? b : a));
  assert.ok(Math.abs(top[0] - xOf(ticks, 7)) < 0.6, `spike vertex at step 7 (x ${top[0]})`);
  const spike = loss.locator("circle.spike");
  assert.equal(await spike.getAttribute("data-step"), "7");
  assert.ok(Math.abs(Number(await spike.getAttribute("cx")) - xOf(ticks, 7)) < 0.6);
  assert.match((await spike.locator("title").textContent()) ?? "", /spike at step 7: loss 9\.5 \(running median 1\.7\)/);
  const current = loss.locator("line.current-step");
  assert.equal(await current.getAttribute("data-step"), "10");
  assert.ok(Math.abs(Number(await current.getAttribute("x1")) - xOf(ticks, 10)) < 0.6);
  const nan = loss.locator("text.nonfinite-mark");
  assert.equal(await nan.getAttribute("data-step"), "9");
  assert.equal(await nan.locator("title").textContent(), "loss is NaN at step 9");
  // the two learning-rate groups share a chart, so do the norms before and after clipping
  assert.deepEqual(
    await p.page.locator('svg[data-chart="learning rate"] path.curve').evaluateAll((ps) => ps.map((x) => x.getAttribute("data-key"))),
    ["lr", "lr/1"],
  );
  assert.deepEqual(
    await p.page.locator('svg[data-chart="gradient norm"] path.curve').evaluateAll((ps) => ps.map((x) => x.getAttribute("data-key"))),
    ["grad_norm", "grad_norm_clipped"],
  );
  assert.match((await p.page.locator("#spikes").textContent()) ?? "", /spike at step 7/);
  assert.deepEqual(await p.violations(), []);
  await p.shot("webview-training.png");
  await p.page.close();
});

test("the charts are sized to the panel: full width in a wide one, one column in a narrow one", async () => {
  for (const width of [1240, 480]) {
    const p = await pausedWithTraining(width);
    const body = await p.page.evaluate(() => document.body.clientWidth);
    const loss = await p.page.locator('svg[data-chart="loss"]').boundingBox();
    assert.ok(loss && loss.width >= body - 24 && loss.width <= body, `loss chart ${loss?.width} px in a ${body} px page`);
    const others = await p.page.locator(".chart-row svg").evaluateAll((s) => s.map((x) => x.getBoundingClientRect()));
    const columns = new Set(others.map((r) => Math.round(r.left))).size;
    assert.equal(columns, width >= 900 ? 2 : 1);
    // tick labels stay inside the chart and do not overlap each other
    const labels = await p.page
      .locator('svg[data-chart="loss"] text.tick[text-anchor="middle"]')
      .evaluateAll((ts) => ts.map((t) => t.getBoundingClientRect()).map((r) => [r.left, r.right]));
    for (let i = 1; i < labels.length; i++) assert.ok(labels[i][0] > labels[i - 1][1], "step labels overlap");
    await p.page.close();
  }
});

test("clicking a step asks the host for its layers and shows that step's layer table", async () => {
  const p = await pausedWithTraining();
  const ticks = await stepTicks(p, "loss");
  const loss = p.page.locator('svg[data-chart="loss"]');
  const boxOf = await loss.boundingBox();
  const viewWidth = Number(await loss.getAttribute("width"));
  await loss.click({ position: { x: (xOf(ticks, 7) * boxOf!.width) / viewWidth, y: 40 } });
  const asked = (await p.posted()).filter((m) => m.type === "stepLayers");
  assert.deepEqual(asked, [{ type: "stepLayers", step: 7 }]);
  assert.match((await p.page.locator("#step-layers-status").textContent()) ?? "", /Loading the layers of step 7/);
  assert.match((await loss.locator("+ p.readout").textContent()) ?? "", /^step 7: loss 9\.5$/);
  await p.send({ type: "stepLayers", step: 7, layers: layersAtStep7 });
  const rows = await p.page.locator("#step-layer-table tbody tr").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-module")));
  assert.deepEqual(rows, ["block.fc1", "block.fc2"]);
  assert.match((await p.page.locator('#step-layer-table tr[data-module="block.fc1"]').textContent()) ?? "", /norm 38\.5/);
  assert.equal(await p.page.locator('svg[data-chart="loss"] line.selected-step').count(), 1);
  // the keyboard moves along the recorded steps; a step outside the history gets the agent's message
  await p.page.locator('svg[data-chart="loss"]').focus();
  await p.page.keyboard.press("ArrowRight");
  assert.deepEqual((await p.posted()).filter((m) => m.type === "stepLayers").at(-1), { type: "stepLayers", step: 8 });
  await p.send({
    type: "stepLayers",
    step: 8,
    layers: [],
    error: "step_layers: step 8 is not in the layer history (it holds steps 40-103)",
  });
  assert.match((await p.page.locator("#step-layers-status").textContent()) ?? "", /step 8 is not in the layer history/);
  // an answer for a step no longer selected is ignored
  await p.send({ type: "stepLayers", step: 7, layers: layersAtStep7 });
  assert.equal(await p.page.locator("#step-layer-table").count(), 0);
  await p.shot("webview-training-step.png");
  await p.page.close();
});

test("the Graph tab draws each module where the layout put it, coloured by health, functional edges dashed and labelled", async () => {
  const p = await pausedWithTraining();
  await p.page.locator("#tab-graph").click();
  await p.page.locator("#graph-svg").waitFor();
  for (const n of layout.nodes) {
    const rect = p.page.locator(`#graph-svg g.node[data-id="${n.id}"] rect`);
    assert.deepEqual(await rect.evaluate((r) => ["x", "y", "width", "height"].map((a) => Number(r.getAttribute(a)))), [n.x, n.y, n.w, n.h]);
  }
  const health = await p.page
    .locator("#graph-svg g.node")
    .evaluateAll((gs) => gs.map((g) => [g.getAttribute("data-id"), g.getAttribute("data-health")]));
  assert.deepEqual(
    health,
    training.graph!.nodes.map((n) => [n.id, n.health]),
  );
  const fills = await p.page.locator("#graph-svg g.node rect").evaluateAll((rs) => rs.map((r) => getComputedStyle(r).fill));
  assert.equal(new Set(fills).size, 4, "healthy, origin, propagated and unknown are four colours");
  const functional = p.page.locator('#graph-svg g.edge.functional[data-source="stem"][data-target="head"]');
  assert.notEqual(await functional.locator("path").evaluate((x) => getComputedStyle(x).strokeDasharray), "none");
  assert.equal(await functional.locator("text.edge-label").textContent(), "add");
  const plain = p.page.locator('#graph-svg g.edge[data-source="stem"][data-target="block.fc1"] path');
  assert.equal(await plain.evaluate((x) => getComputedStyle(x).strokeDasharray), "none");
  // a module named like HTML is drawn as text (cut to its box, whole in the tooltip)
  assert.equal(await p.page.locator('#graph-svg g.node[data-id="head"] title').textContent(), `${XSS_NAME} (Linear): not recorded`);
  assert.equal(await p.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.deepEqual(await p.violations(), []);
  await p.shot("webview-graph.png");
  await p.page.close();
});

test("a click on a node shows its recorded statistics and parameters; the wheel zooms and Fit shows all", async () => {
  const p = await pausedWithTraining();
  await p.page.locator("#tab-graph").click();
  await p.page.locator('#graph-svg g.node[data-id="block.fc1"]').click();
  const card = p.page.locator("#node-detail");
  assert.equal(await card.locator("h3").textContent(), "block.fc1 (Linear)");
  assert.equal(await card.locator(".health-text").textContent(), "non-finite origin");
  assert.match((await card.locator('#node-layer-table tr[data-site="output"]').textContent()) ?? "", /nonfinite 3/);
  assert.deepEqual(await card.locator('#node-params tr[data-name="block.fc1.weight"] td').allTextContents(), [
    "weight",
    "[8, 8]",
    "4.25",
    "0",
    "38.5",
    "2",
  ]);
  assert.ok(await p.page.locator('#graph-svg g.node[data-id="block.fc1"]').evaluate((g) => g.classList.contains("selected")));
  const svgBox = await p.page.locator("#graph-svg").boundingBox();
  const fit = await p.page.locator("#graph-svg").getAttribute("viewBox");
  await p.page.mouse.move(svgBox!.x + svgBox!.width / 2, svgBox!.y + svgBox!.height / 2);
  await p.page.mouse.wheel(0, -300);
  await p.page.waitForFunction((before) => document.getElementById("graph-svg")?.getAttribute("viewBox") !== before, fit);
  const zoomed = ((await p.page.locator("#graph-svg").getAttribute("viewBox")) ?? "").split(" ").map(Number);
  assert.ok(zoomed[2] < Number(fit!.split(" ")[2]), "zoomed in: a narrower viewBox");
  await p.page.getByRole("button", { name: "fit the whole graph" }).click();
  assert.equal(await p.page.locator("#graph-svg").getAttribute("viewBox"), fit);
  await p.page.close();
});

test("without curves, a graph or a layout the tabs say why instead of drawing nothing", async () => {
  const p = await openPanel(browser);
  await p.send({ type: "snapshot", snapshot, session: "Train" });
  await p.page.locator("#tab-training").click();
  assert.match((await p.page.locator("#training").textContent()) ?? "", /Loading the training curves/);
  await p.send({
    type: "training",
    training: null,
    error: "no training curves at this stop: tensorpeek.agent request failed: unknown method",
  });
  assert.match((await p.page.locator("#training .error").textContent()) ?? "", /unknown method/);
  await p.send({
    type: "training",
    training: { ...training, graph: training.graph },
    error: "the module graph could not be laid out: boom",
  });
  await p.page.locator("#tab-graph").click();
  assert.match((await p.page.locator("#graph .error").textContent()) ?? "", /could not be laid out: boom/);
  await p.send({ type: "training", training: { step: null, scalars: {}, spikes: [], graph: null } });
  assert.match((await p.page.locator("#graph").textContent()) ?? "", /No module graph yet/);
  await p.page.locator("#tab-training").click();
  assert.match((await p.page.locator("#training").textContent()) ?? "", /No training curves yet/);
  // the losses the fixture planted are the ones the chart reads back in its readout
  await p.send({ type: "training", training, layout });
  const ticks = await stepTicks(p, "loss");
  const loss = p.page.locator('svg[data-chart="loss"]');
  const b = await loss.boundingBox();
  await loss.hover({ position: { x: (xOf(ticks, 3) * b!.width) / Number(await loss.getAttribute("width")), y: 50 } });
  assert.equal(await loss.locator("+ p.readout").textContent(), `step 3: loss ${String(Number(lossAt(3).toPrecision(4)))}`);
  await p.page.close();
});

// a real run through the real agent and layout: one layer's learning rate jumps 20000x for the one
// step JUMP (an update-ratio step: every 10th), the loss spikes at the next; the script measures
// that layer's update ratio itself (float64), the oracle for what the panel shows
const JUMP = 40;
const MOVED_RUN = `
import json
import torch
from torch import nn
import tensorpeek
from tensorpeek import agent
from tensorpeek.render.graph import layout_graph

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16)
    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))

torch.manual_seed(0)
model = nn.Sequential()
model.add_module("stem", nn.Linear(6, 16))
model.add_module("block", Block())
model.add_module("head", nn.Linear(16, 3))
tensorpeek.break_on(model, "output", "nonfinite", action="record")
own = list(model.block.fc1.parameters())
rest = [p for p in model.parameters() if all(p is not q for q in own)]
opt = torch.optim.SGD([{"params": own}, {"params": rest}], lr=0.01)
g = torch.Generator().manual_seed(3)
ratio = None
for step in range(${JUMP} + 3):
    loss = model(torch.randn(8, 6, generator=g)).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.param_groups[0]["lr"] = 200.0 if step == ${JUMP} else 0.01
    before = [p.detach().double().clone() for p in own]
    opt.step()
    if step == ${JUMP}:
        diff = sum(((p.detach().double() - b) ** 2).sum() for p, b in zip(own, before))
        ratio = float(diff.sqrt() / sum((b ** 2).sum() for b in before).sqrt())

def ask(method, **params):
    reply = json.loads(agent.request(json.dumps({"version": 1, "method": method, "params": params})))
    assert reply["ok"], reply
    return reply["result"]

t = ask("training")
print(json.dumps({"training": t, "layout": layout_graph(t["graph"]), "layers": ask("step_layers", step=${JUMP})["layers"], "ratio": ratio}))
`;

test("a spike lists the layers that moved first (the agent's answer); a click opens the layer's graph node or its row", async () => {
  const run = JSON.parse(runPython(MOVED_RUN)) as { training: unknown; layout: unknown; layers: unknown; ratio: number };
  const real = trainingCodec.decode(run.training, "training");
  const realLayout = graphLayoutCodec.decode(run.layout, "layout");
  assert.equal(real.spikes.length, 1, `one spike: ${JSON.stringify(real.spikes)}`);
  const p = await openPanel(browser, { width: 1000, height: 900 });
  await p.send({ type: "snapshot", snapshot, session: "Train" });
  await p.send({ type: "training", training: real, layout: realLayout });
  await p.page.locator("#tab-training").click();
  const movers = p.page.locator(`#spikes li[data-step="${JUMP + 1}"] ul.movers li[data-layer]`);
  await movers.first().waitFor();
  assert.deepEqual(await movers.evaluateAll((ls) => ls.map((l) => l.getAttribute("data-layer"))), ["block.fc1"]);
  const text = (await movers.first().textContent()) ?? "";
  const m = /^block\.fc1 update ratio (\S+) at step (\d+) \((\S+)× its median (\S+)\) · row at step (\d+)$/.exec(text);
  assert.ok(m, `the mover's line: ${text}`);
  assert.equal(Number(m[2]), JUMP);
  assert.ok(Math.abs(Number(m[1]) - run.ratio) <= 1e-3 * run.ratio, `shown ${m[1]}, the script measured ${run.ratio}`);
  assert.ok(Number(m[3]) > 3, "a jump of more than 3x its own median");
  await p.shot("webview-training-movers.png");

  // its name opens the Graph tab on that node
  await movers.first().locator("button.mover").click();
  await p.page.locator('#graph-svg g.node.selected[data-id="block.fc1"]').waitFor();
  assert.equal(await p.page.locator("#tab-graph").getAttribute("aria-selected"), "true");
  assert.match((await p.page.locator("#node-detail h3").textContent()) ?? "", /^block\.fc1 /);

  // "row at step 40" asks for that step's layers and marks the layer's rows in the table
  await p.page.locator("#tab-training").click();
  await p.page.locator(`#spikes button.mover-row[data-layer="block.fc1"]`).click();
  assert.deepEqual(
    (await p.posted()).filter((x) => x.type === "stepLayers").map((x) => x.step),
    [JUMP],
  );
  await p.send({ type: "stepLayers", step: JUMP, layers: run.layers as never });
  const table = p.page.locator(`#step-layer-table[data-step="${JUMP}"]`);
  await table.waitFor();
  const marked = await table.locator("tbody tr.selected").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-module")));
  assert.ok(marked.length > 0 && marked.every((x) => x === "block.fc1"), `rows marked: ${marked.join(", ")}`);
  await p.page.close();
});
