/**
 * The TypeScript codecs agree with the Python side's JSON schema (docs/snapshot.schema.json,
 * exported from tensorpeek/agent/protocol.py): every field the codec declares exists there with
 * the same type, and the codec declares every field the schema requires, as required.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import type { Kind } from "../../src/wire/codec";
import { codecsBySchemaName } from "../../src/wire/protocol";
import { REPO } from "./python";

type Schema = Record<string, unknown> & {
  $ref?: string;
  type?: string | string[];
  anyOf?: Schema[];
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
};

const schema = JSON.parse(readFileSync(path.join(REPO, "docs", "snapshot.schema.json"), "utf8")) as {
  $defs: Record<string, Schema>;
  "x-protocol-version": number;
};

function resolve(s: Schema): Schema {
  if (s.$ref) return resolve(schema.$defs[s.$ref.replace("#/$defs/", "")]);
  return s;
}

/** Splits a schema into its non-null alternative and whether null is allowed. */
function nullability(s: Schema): { inner: Schema; nullable: boolean } {
  if (s.anyOf) {
    const rest = s.anyOf.filter((a) => a.type !== "null");
    return { inner: rest.length === 1 ? rest[0] : { anyOf: rest }, nullable: rest.length < s.anyOf.length };
  }
  if (Array.isArray(s.type) && s.type.includes("null")) {
    const types = s.type.filter((t) => t !== "null");
    return { inner: { ...s, type: types.length === 1 ? types[0] : types }, nullable: true };
  }
  return { inner: s, nullable: false };
}

function typesOf(s: Schema): string[] {
  return (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []).slice().sort();
}

function check(kind: Kind, raw: Schema, where: string): void {
  const { inner, nullable } = nullability(resolve(raw));
  const s = resolve(inner);
  if (kind.kind === "nullable") {
    assert.ok(nullable, `${where}: codec allows null, schema does not`);
    return check(kind.inner, s, where);
  }
  assert.ok(!nullable || kind.kind === "unknown", `${where}: schema allows null, codec does not`);
  switch (kind.kind) {
    case "unknown":
      return;
    case "string":
    case "boolean":
    case "integer":
    case "number":
      assert.deepEqual(typesOf(s), [kind.kind], `${where}: type`);
      return;
    case "statistic":
      assert.deepEqual(typesOf(s), ["integer", "number", "string"], `${where}: statistic (number or "nan"/"inf"/"-inf")`);
      return;
    case "literal":
      assert.deepEqual([...(s.enum ?? [])].sort(), [...kind.values].sort(), `${where}: enum values`);
      return;
    case "array":
      assert.deepEqual(typesOf(s), ["array"], `${where}: type`);
      return check(kind.item, s.items ?? {}, `${where}[]`);
    case "record":
      assert.equal(typeof s.additionalProperties, "object", `${where}: a map`);
      return check(kind.value, s.additionalProperties as Schema, `${where}{}`);
    case "object": {
      const props = s.properties ?? {};
      const required = new Set(s.required ?? []);
      for (const [name, fieldKind] of Object.entries(kind.fields)) {
        assert.ok(name in props, `${where}.${name}: declared by the codec but not in the schema`);
        assert.equal(!kind.optional.includes(name), required.has(name), `${where}.${name}: required in one and optional in the other`);
        check(fieldKind, props[name], `${where}.${name}`);
      }
      for (const name of required) assert.ok(name in kind.fields, `${where}.${name}: required by the schema, missing from the codec`);
      return;
    }
  }
}

test("the protocol version matches", () => {
  assert.equal(schema["x-protocol-version"], 1);
});

for (const [name, codec] of Object.entries(codecsBySchemaName)) {
  test(`codec ${name} agrees with the schema's ${name}`, () => {
    assert.ok(name in schema.$defs, `${name} is not defined in the schema`);
    check(codec.describe, { $ref: `#/$defs/${name}` }, name);
  });
}

test("the check itself catches a disagreement", () => {
  const wrong: Kind = { kind: "object", fields: { version: { kind: "string" } }, optional: [] };
  assert.throws(() => check(wrong, { $ref: "#/$defs/Snapshot" }, "Snapshot"), /version: type/);
  const missing: Kind = { kind: "object", fields: {}, optional: [] };
  assert.throws(() => check(missing, { $ref: "#/$defs/Snapshot" }, "Snapshot"), /required by the schema, missing/);
});
