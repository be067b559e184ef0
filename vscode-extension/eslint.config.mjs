import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
      "no-restricted-syntax": [
        "error",
        { selector: "CallExpression[callee.object.name='document'][callee.property.name='write']", message: "no document.write" },
      ],
    },
  },
  {
    files: ["test/**/*.ts", "scripts/**/*.mjs"],
    rules: { "no-console": "off" },
  },
);
