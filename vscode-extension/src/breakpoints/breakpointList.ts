/**
 * The pure logic of the breakpoint commands and the store: edits on the stored list, hit
 * counts matched to it, and the targets a code lens offers. No `vscode` here, so node tests
 * cover it.
 */
import { specText, type SpecParts, type StoredBreakpoint } from "../wire/breakpointSpecs";

/** Adds a breakpoint unless the same spec is already listed (then it is re-enabled). */
export function addBreakpoint(list: readonly StoredBreakpoint[], spec: SpecParts, newId: string): StoredBreakpoint[] {
  const text = specText(spec);
  if (list.some((bp) => specText(bp) === text)) {
    return list.map((bp) => (specText(bp) === text ? { ...bp, enabled: true } : bp));
  }
  return [...list, { id: newId, target: spec.target, site: spec.site, condition: spec.condition, enabled: true }];
}

export function removeBreakpoint(list: readonly StoredBreakpoint[], id: string): StoredBreakpoint[] {
  return list.filter((bp) => bp.id !== id);
}

export function setEnabled(list: readonly StoredBreakpoint[], id: string, enabled: boolean): StoredBreakpoint[] {
  return list.map((bp) => (bp.id === id ? { ...bp, enabled } : bp));
}

/** Hit counts reported by the agent, matched to stored breakpoints by their spec text. */
export function hitCounts(
  list: readonly StoredBreakpoint[],
  reported: ReadonlyArray<{ spec: string; hit_count: number }>,
): Map<string, number> {
  const bySpec = new Map<string, number>();
  for (const r of reported) bySpec.set(r.spec, (bySpec.get(r.spec) ?? 0) + r.hit_count);
  const out = new Map<string, number>();
  for (const bp of list) {
    const n = bySpec.get(specText(bp));
    if (n !== undefined) out.set(bp.id, n);
  }
  return out;
}

/**
 * Candidate targets for a code lens on `self.<attribute> = ...` in class `className`: live
 * module paths whose last component is the attribute; when nothing is live, a glob that
 * matches the attribute at any depth.
 */
export function lensTargets(attribute: string | null, className: string, liveModules: readonly string[]): string[] {
  if (attribute === null) return [className];
  const live = liveModules.filter((m) => m === attribute || m.endsWith(`.${attribute}`));
  return live.length > 0 ? live : [attribute, `*.${attribute}`];
}

const TOAST_CHARS = 110;

/** What a toast can show of a refusal: the first line of `message`, cut at a word before TOAST_CHARS characters. */
export function toastText(message: string): string {
  const first = message.split("\n")[0].trim();
  if (first.length <= TOAST_CHARS && first === message.trim()) return message;
  if (first.length <= TOAST_CHARS) return `${first} …`;
  const cut = first.lastIndexOf(" ", TOAST_CHARS);
  return `${first.slice(0, cut > 40 ? cut : TOAST_CHARS)} …`;
}
