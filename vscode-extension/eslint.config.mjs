import { builtinModules } from "node:module";
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const noDocumentWrite = {
  selector: "CallExpression[callee.object.name='document'][callee.property.name='write']",
  message: "no document.write",
};

// src/wire/ holds the contracts between the extension host, the page and the agent, and the page
// bundles from it, so it must run where there is no `vscode`, no language client and no Node.
// These rules hold that boundary for wire/ and webview/ (as import-linter does for the Python
// package); test/unit/boundaries.test.ts checks that they do.
const hostOnly = [
  {
    name: "vscode",
    message: "only the extension host has `vscode`; wire/ and webview/ also run in the page (see src/platform/vscodeapi.ts)",
  },
  ...builtinModules
    .flatMap((m) => [m, `node:${m}`])
    .map((name) => ({ name, message: "wire/ and webview/ also run in the page, where there is no Node" })),
];
const hostOnlyPatterns = [
  { group: ["vscode-languageclient", "vscode-languageclient/*"], message: "only src/language/ uses the language client" },
];
const noDynamicImports = [
  { selector: "ImportExpression", message: "wire/ and webview/ import statically, so the boundary rules see every import" },
  { selector: "TSImportType", message: "wire/ and webview/ import types with `import type`, so the boundary rules see them" },
  {
    selector: "CallExpression[callee.name='require']",
    message: "wire/ and webview/ import statically, so the boundary rules see every import",
  },
];

export default tseslint.config(
  { ignores: ["dist/**", "out/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: "readonly", process: "readonly", Buffer: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
    rules: {
      "no-console": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // the panel builds its DOM with textContent; HTML parsing of debuggee strings is never allowed
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "build DOM nodes with textContent (debuggee strings are untrusted)" },
        { property: "outerHTML", message: "build DOM nodes with textContent (debuggee strings are untrusted)" },
        { property: "insertAdjacentHTML", message: "build DOM nodes with textContent (debuggee strings are untrusted)" },
      ],
      "no-restricted-syntax": ["error", noDocumentWrite],
    },
  },
  {
    files: ["src/wire/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: hostOnly,
          patterns: [
            ...hostOnlyPatterns,
            { regex: "^\\.\\./", message: "wire/ imports only from wire/; the other parts depend on it, not the reverse" },
          ],
        },
      ],
      "no-restricted-syntax": ["error", noDocumentWrite, ...noDynamicImports],
    },
  },
  {
    files: ["src/webview/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: hostOnly,
          patterns: [...hostOnlyPatterns, { regex: "^\\.\\./(?!wire/)", message: "the page imports only from webview/ and wire/" }],
        },
      ],
      "no-restricted-syntax": ["error", noDocumentWrite, ...noDynamicImports],
    },
  },
  {
    files: ["test/**/*.ts", "scripts/**/*.mjs"],
    rules: { "no-console": "off" },
  },
);
