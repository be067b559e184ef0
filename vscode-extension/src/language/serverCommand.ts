/** Pure parts of starting the language server: its command line and the message when it cannot start. */

/** Set (e.g. by the repo's "Run the extension" launch config) to debug the server with debugpy. */
export const SERVER_DEBUG_PORT_ENV = "TENSORPEEK_LS_DEBUGPY_PORT";

/**
 * The server's command line. With a debug port, the server runs under debugpy and waits for
 * the "Attach to the language server" configuration before it starts serving.
 */
export function serverArgs(debugPort: string | undefined): string[] {
  const port = debugPort?.trim();
  if (port && /^\d+$/.test(port)) return ["-m", "debugpy", "--listen", `127.0.0.1:${port}`, "--wait-for-client", "-m", "tensorpeek.server"];
  return ["-m", "tensorpeek.server"];
}

/** The message shown when the interpreter cannot import tensorpeek. */
export function missingTensorpeekMessage(python: string, detail: string): string {
  const reason = detail.trim().split("\n").pop() || "import failed";
  return `${python} cannot import tensorpeek's language server (${reason}). Install or upgrade it with: "${python}" -m pip install --upgrade tensorpeek`;
}
