/**
 * `tensorpeek.addTensorBreakpoint`: choose a target (live module paths when paused, or a typed
 * glob), a site and a preset or expression; a whole `TARGET:SITE:CONDITION` typed as the
 * target is the spec. The spec is validated before it is stored. Code lenses call it with
 * `{className, attribute, preset, uri, line}`; a `TARGET:SITE:CONDITION` string argument adds
 * that spec directly (after validation).
 */
import type { QuickPickItem } from "vscode";
import type { DebugSessions } from "../debug/debugSessions";
import { resolveInterpreter } from "../platform/interpreter";
import { traceError } from "../platform/log";
import { window } from "../platform/vscodeapi";
import { PRESETS, SITES, specText, splitSpec, type SpecParts, type StoredBreakpoint } from "../wire/breakpointSpecs";
import { lensTargets, toastText } from "./breakpointList";
import type { BreakpointStore } from "./breakpointStore";
import { validateWithPython, type Validation } from "./specValidation";

export interface LensArgument {
  className: string;
  attribute: string | null;
  preset: string | null;
  uri?: string;
  line?: number;
}

function isLensArgument(arg: unknown): arg is LensArgument {
  return typeof arg === "object" && arg !== null && typeof (arg as LensArgument).className === "string";
}

const EXPRESSION = "Expression…";

export class AddBreakpointCommand {
  constructor(
    private readonly store: BreakpointStore,
    private readonly sessions: DebugSessions,
  ) {}

  async run(arg?: unknown): Promise<void> {
    try {
      const spec = typeof arg === "string" ? splitSpec(arg) : await this.ask(isLensArgument(arg) ? arg : undefined);
      if (!spec) return;
      const verdict = await this.validate(spec);
      if (!verdict.ok) {
        void refuse(verdict.message);
        return;
      }
      await this.store.add(spec);
    } catch (err) {
      traceError("add tensor breakpoint", err);
      void refuse((err as Error).message);
    }
  }

  /** The breakpoint a tree-view action was invoked on, or one picked from the list. */
  async choose(arg: StoredBreakpoint | undefined, verb: string): Promise<string | undefined> {
    if (arg?.id) return arg.id;
    const all = this.store.all();
    if (all.length === 0) {
      void window.showInformationMessage("There are no tensor breakpoints.");
      return undefined;
    }
    const picked = await window.showQuickPick(
      all.map((bp) => ({ label: specText(bp), description: bp.enabled ? "" : "disabled", id: bp.id })),
      { placeHolder: `Tensor breakpoint to ${verb}` },
    );
    return picked?.id;
  }

  private async ask(lens: LensArgument | undefined): Promise<SpecParts | undefined> {
    let live: string[] = [];
    try {
      live = await this.sessions.modules();
    } catch (err) {
      traceError("could not list live modules", err);
    }
    const suggestions = lens ? lensTargets(lens.attribute, lens.className, live) : ["*", ...live.filter((m) => m !== "")];
    const target = await pickOrType(
      suggestions,
      "Module path or glob (e.g. encoder.layers.*.attn), a class name, or a whole spec (*:output:nonfinite)",
      lens ? suggestions[0] : undefined,
    );
    if (!target) return undefined;
    // a whole TARGET:SITE:CONDITION typed into the first box is the spec (no later picks);
    // module paths, globs and class names never contain ':'
    if (target.includes(":")) return splitSpec(target);
    const site = await window.showQuickPick(
      SITES.map((s) => ({ label: s })),
      { title: `Tensor breakpoint on ${target}`, placeHolder: "Which tensor: the module's output, input, gradients or parameters" },
    );
    if (!site) return undefined;
    const condition = lens?.preset ?? (await this.askCondition());
    if (!condition) return undefined;
    return { target, site: site.label, condition };
  }

  private async askCondition(): Promise<string | undefined> {
    const picked = await window.showQuickPick(
      [...PRESETS.map((p) => ({ label: p })), { label: EXPRESSION, description: "e.g. absmax > 1e4 or std < 1e-6" }],
      {
        placeHolder: "When to pause: a preset or an expression over summary statistics",
      },
    );
    if (!picked) return undefined;
    if (picked.label !== EXPRESSION) return picked.label;
    return window.showInputBox({
      prompt: "Condition over summary names (absmax, std, norm, nan, zeros_frac, step, …)",
      placeHolder: "norm > 1e3",
    });
  }

  private async validate(spec: SpecParts): Promise<Validation> {
    if (this.sessions.current()) {
      const errors = await this.sessions.pushBreakpointsWith(spec);
      return errors.length ? { ok: false, message: errors.join("; ") } : { ok: true };
    }
    return validateWithPython(await resolveInterpreter(), spec);
  }
}

/**
 * A toast shows about two lines: it says why in a few words, and "Details" opens the whole
 * message (the parser's pointer at the bad character included) in a dialog that wraps it.
 */
export async function refuse(message: string): Promise<void> {
  const short = toastText(message);
  if (short === message) {
    void window.showErrorMessage(`Tensor breakpoint not added: ${message}`);
    return;
  }
  const choice = await window.showErrorMessage(`Tensor breakpoint not added: ${short}`, "Details");
  if (choice === "Details") void window.showModalError("Tensor breakpoint not added", message);
}

async function pickOrType(suggestions: string[], placeholder: string, initial?: string): Promise<string | undefined> {
  const items: QuickPickItem[] = suggestions.map((s) => ({ label: s }));
  return window.pickOrType(items, placeholder, initial);
}
