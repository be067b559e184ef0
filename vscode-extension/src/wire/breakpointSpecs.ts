/**
 * Tensor breakpoint specs in their three forms: the `TARGET:SITE:CONDITION` text, the stored
 * list, and the JSON the agent reads. The JSON form (`{target, site, condition, enabled}`) is
 * the one `tensorpeek.engine.spec.parse_spec` reads, so the list is written to the
 * `TENSORPEEK_BREAKPOINTS` file unchanged.
 */
import { array, bool, object, str, type Infer } from "./codec";

export const SITES = ["output", "input", "grad_output", "grad_input", "param_grad", "param"] as const;
export const PRESETS = ["nonfinite", "nan", "inf", "exploding", "vanishing", "dead", "saturated"] as const;

export const storedBreakpointCodec = object({ id: str, target: str, site: str, condition: str, enabled: bool });
export type StoredBreakpoint = Infer<typeof storedBreakpointCodec>;
export const storedListCodec = array(storedBreakpointCodec);

export interface SpecParts {
  target: string;
  site: string;
  condition: string;
}

export function specText(bp: SpecParts): string {
  return `${bp.target}:${bp.site}:${bp.condition}`;
}

/**
 * Splits `TARGET:SITE:CONDITION` into its parts (the condition may contain ':'). Only the
 * shape is checked here; the agent or `parse_spec` validates the meaning.
 */
export function splitSpec(text: string): SpecParts {
  const trimmed = text.trim();
  const first = trimmed.indexOf(":");
  const second = first < 0 ? -1 : trimmed.indexOf(":", first + 1);
  if (first < 0 || second < 0) throw new Error(`expected TARGET:SITE:CONDITION (e.g. *:output:nonfinite), got ${JSON.stringify(text)}`);
  const parts = {
    target: trimmed.slice(0, first).trim(),
    site: trimmed.slice(first + 1, second).trim(),
    condition: trimmed.slice(second + 1).trim(),
  };
  if (!parts.target || !parts.site || !parts.condition)
    throw new Error(`empty part in ${JSON.stringify(text)}; expected TARGET:SITE:CONDITION`);
  return parts;
}

/** The JSON forms the agent reads (from the file or through `set_breakpoints`). */
export function agentSpecs(list: readonly StoredBreakpoint[]): Array<SpecParts & { enabled: boolean }> {
  return list.map((bp) => ({ target: bp.target, site: bp.site, condition: bp.condition, enabled: bp.enabled }));
}

/** The `TENSORPEEK_BREAKPOINTS` file's content. */
export function breakpointFileText(list: readonly StoredBreakpoint[]): string {
  return `${JSON.stringify({ breakpoints: agentSpecs(list) }, null, 2)}\n`;
}
