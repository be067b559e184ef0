// Bundles the extension (Node, CommonJS, `vscode` external) and the panel page (browser IIFE)
// with esbuild. `--tests` also bundles each test file into out/ for node's test runner (playwright-core
// and eslint stay external: the tests load them from node_modules).
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const common = { bundle: true, sourcemap: true, logLevel: "warning", target: "es2022" };

await build({
  ...common,
  entryPoints: ["src/extension.ts"],
  outfile: "dist/extension.js",
  minify: true,
  platform: "node",
  format: "cjs",
  external: ["vscode"],
});
await build({
  ...common,
  entryPoints: ["src/webview/main.ts"],
  outfile: "dist/webview.js",
  minify: true,
  platform: "browser",
  format: "iife",
});

if (process.argv.includes("--tests")) {
  for (const dir of ["unit", "webview", "e2e"]) {
    const files = readdirSync(join("test", dir)).filter((f) => f.endsWith(".test.ts"));
    if (files.length === 0) continue;
    await build({
      ...common,
      entryPoints: files.map((f) => join("test", dir, f)),
      outdir: join("out", "test", dir),
      platform: "node",
      format: "cjs",
      external: ["vscode", "playwright-core", "eslint"],
    });
  }
}
