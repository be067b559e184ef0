/**
 * A tiny runtime codec: one declaration of a wire format gives the TypeScript type
 * (`Infer<typeof x>`), a decoder that checks untrusted JSON from the debuggee, and a
 * description that a test compares with the Python side's JSON schema. Unknown extra
 * fields are allowed (the Python side may add fields freely, DESIGN.md), missing or
 * mistyped ones are rejected with the path that failed.
 */

export class DecodeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path || "<root>"}: ${message}`);
    this.name = "DecodeError";
  }
}

export type Kind =
  | { kind: "string" }
  | { kind: "number" }
  | { kind: "integer" }
  | { kind: "boolean" }
  | { kind: "statistic" }
  | { kind: "literal"; values: readonly string[] }
  | { kind: "nullable"; inner: Kind }
  | { kind: "array"; item: Kind }
  | { kind: "record"; value: Kind }
  | { kind: "unknown" }
  | { kind: "object"; fields: Record<string, Kind>; optional: readonly string[] };

export interface Codec<T> {
  readonly describe: Kind;
  decode(value: unknown, path?: string): T;
}

export type Infer<C> = C extends Codec<infer T> ? T : never;

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function primitive<T>(kind: "string" | "number" | "integer" | "boolean", test: (v: unknown) => boolean): Codec<T> {
  return {
    describe: { kind },
    decode(value, path = "") {
      if (!test(value)) throw new DecodeError(path, `expected ${kind}, got ${typeName(value)}`);
      return value as T;
    },
  };
}

export const str = primitive<string>("string", (v) => typeof v === "string");
export const num = primitive<number>("number", (v) => typeof v === "number");
export const int = primitive<number>("integer", (v) => typeof v === "number" && Number.isInteger(v));
export const bool = primitive<boolean>("boolean", (v) => typeof v === "boolean");

/** A statistic: a JSON number, or "nan" / "inf" / "-inf" (JSON has no such numbers). */
export type Statistic = number | "nan" | "inf" | "-inf";
export const statistic: Codec<Statistic> = {
  describe: { kind: "statistic" },
  decode(value, path = "") {
    if (typeof value === "number" || value === "nan" || value === "inf" || value === "-inf") return value;
    throw new DecodeError(path, `expected a number or "nan"/"inf"/"-inf", got ${JSON.stringify(value)}`);
  },
};

/** A statistic as a JS number (NaN and ±Infinity for the special strings). */
export function statValue(v: Statistic | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  return v === "nan" ? Number.NaN : v === "inf" ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
}

export const unknownValue: Codec<unknown> = {
  describe: { kind: "unknown" },
  decode: (value) => value,
};

export function literal<const V extends readonly string[]>(...values: V): Codec<V[number]> {
  return {
    describe: { kind: "literal", values },
    decode(value, path = "") {
      if (typeof value !== "string" || !values.includes(value)) {
        throw new DecodeError(path, `expected one of ${values.join(", ")}, got ${JSON.stringify(value)}`);
      }
      return value as V[number];
    },
  };
}

export function nullable<T>(inner: Codec<T>): Codec<T | null> {
  return {
    describe: { kind: "nullable", inner: inner.describe },
    decode: (value, path = "") => (value === null ? null : inner.decode(value, path)),
  };
}

export function array<T>(item: Codec<T>): Codec<T[]> {
  return {
    describe: { kind: "array", item: item.describe },
    decode(value, path = "") {
      if (!Array.isArray(value)) throw new DecodeError(path, `expected array, got ${typeName(value)}`);
      return value.map((v, i) => item.decode(v, `${path}[${i}]`));
    },
  };
}

export function record<T>(valueCodec: Codec<T>): Codec<Record<string, T>> {
  return {
    describe: { kind: "record", value: valueCodec.describe },
    decode(value, path = "") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new DecodeError(path, `expected object, got ${typeName(value)}`);
      }
      const out: Record<string, T> = {};
      for (const [k, v] of Object.entries(value)) out[k] = valueCodec.decode(v, `${path}.${k}`);
      return out;
    },
  };
}

type Fields = Record<string, Codec<unknown>>;
type Required<F extends Fields, O extends keyof F> = { [K in Exclude<keyof F, O>]: Infer<F[K]> };
type Optional<F extends Fields, O extends keyof F> = { [K in O]?: Infer<F[K]> };
type Flat<T> = { [K in keyof T]: T[K] };

/** An object with `fields`; names listed in `optional` may be absent. Extra keys are kept. */
export function object<F extends Fields, O extends keyof F & string = never>(
  fields: F,
  optional: readonly O[] = [],
): Codec<Flat<Required<F, O> & Optional<F, O>>> {
  const described: Record<string, Kind> = {};
  for (const [k, c] of Object.entries(fields)) described[k] = c.describe;
  return {
    describe: { kind: "object", fields: described, optional },
    decode(value, path = "") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new DecodeError(path, `expected object, got ${typeName(value)}`);
      }
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = { ...input };
      for (const [k, c] of Object.entries(fields)) {
        if (!(k in input) || input[k] === undefined) {
          if ((optional as readonly string[]).includes(k)) continue;
          throw new DecodeError(`${path}.${k}`, "missing");
        }
        out[k] = c.decode(input[k], `${path}.${k}`);
      }
      return out as Flat<Required<F, O> & Optional<F, O>>;
    },
  };
}
