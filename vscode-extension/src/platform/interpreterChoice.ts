/** Pure: which interpreter wins among the candidates `interpreter.ts` gathers from VS Code. */

export const FALLBACK_PYTHON = "python3";

/** The setting (with `${workspaceFolder}` expanded), else the Python extension's, else python3. */
export function chooseInterpreter(setting: string | undefined, pythonExtension: string | undefined, folder: string | undefined): string {
  const configured = setting?.trim();
  if (configured) return folder ? configured.replace(/\$\{workspaceFolder\}/g, folder) : configured;
  if (pythonExtension) return pythonExtension;
  return FALLBACK_PYTHON;
}
