/**
 * The parent debug session of a torchrun job: a small debug adapter that runs in the extension
 * host (VS Code's inline implementation). `launch` opens a loopback report socket, starts
 * `python -m torch.distributed.run ... -m tensorpeek.cli.debug_ranks --report 127.0.0.1:PORT
 * SCRIPT ARGS` in its own process group and forwards its output to the Debug Console; each rank
 * says on the socket where its debugpy listens, and the host attaches a child session to it.
 * Stopping this session stops the whole job (the process group: torchrun and every rank); when
 * torchrun exits, this session ends. It has no threads of its own: the ranks' sessions do.
 * No `vscode` import: the host (`JobHost`) is what reaches VS Code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { LOOPBACK, parseRankReport, rankExitText, torchrunArgv, type RankExit, type RankJob, type RankListening } from "./rankJob";

/** How long torchrun gets to stop its ranks after SIGTERM before the group is killed. */
const STOP_GRACE_MS = 3000;

export interface JobHost {
  /** Attaches the child session of one rank; false when VS Code did not start it. */
  startRank(listening: RankListening): Promise<boolean>;
  /** A rank's script ended (`text` says how, for people). */
  rankExited(exit: RankExit, text: string): void;
  log(message: string): void;
}

export interface DapMessage {
  seq: number;
  type: string;
  command?: string;
  event?: string;
  arguments?: Record<string, unknown>;
  request_seq?: number;
  success?: boolean;
  message?: string;
  body?: unknown;
}

type Listener = (message: DapMessage) => void;

export class TorchrunJobAdapter {
  private seq = 1;
  private readonly listeners = new Set<Listener>();
  private proc: ChildProcess | undefined;
  private report: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private worldSize: number | undefined;
  private terminated = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly python: string,
    private readonly job: RankJob,
    private readonly host: JobHost,
  ) {}

  /** VS Code's `DebugAdapter.onDidSendMessage`: the adapter's responses and events. */
  readonly onDidSendMessage = (listener: Listener): { dispose(): void } => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  handleMessage(message: DapMessage): void {
    if (message.type !== "request") return;
    switch (message.command) {
      case "initialize":
        this.respond(message, { supportsConfigurationDoneRequest: true, supportsTerminateRequest: true });
        this.emit("initialized");
        return;
      case "launch":
        void this.launch(message);
        return;
      case "configurationDone":
      case "setExceptionBreakpoints":
        this.respond(message);
        return;
      case "setBreakpoints": // the ranks' sessions verify line breakpoints; this one runs no Python
        this.respond(message, { breakpoints: [] });
        return;
      case "threads":
        this.respond(message, { threads: [] });
        return;
      case "terminate":
      case "disconnect":
        void this.stop().then(() => this.respond(message));
        return;
      default:
        this.respondError(message, `the torchrun job session has no '${message.command}'; use a rank's session (rank 0, rank 1, ...)`);
    }
  }

  dispose(): void {
    void this.stop();
  }

  /** The job's process (torchrun), while it runs. */
  pid(): number | undefined {
    return this.proc?.pid;
  }

  private async launch(request: DapMessage): Promise<void> {
    let port: number;
    try {
      port = await this.openReportSocket();
    } catch (err) {
      this.respondError(request, `could not open the ranks' report socket: ${(err as Error).message}`);
      return;
    }
    const argv = torchrunArgv(this.job, port);
    this.output("console", `tensorpeek: ${this.python} ${argv.join(" ")}\n`);
    const env = { ...process.env, ...this.job.env, PYDEVD_DISABLE_FILE_VALIDATION: "1" };
    const proc = spawn(this.python, argv, { cwd: this.job.cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once("close", () => resolve()));
    proc.stdout?.setEncoding("utf8").on("data", (text: string) => this.output("stdout", text));
    proc.stderr?.setEncoding("utf8").on("data", (text: string) => this.output("stderr", text));
    proc.once("spawn", () => this.respond(request));
    proc.once("error", (err) => {
      this.respondError(request, `could not start ${this.python}: ${err.message}`);
      this.end(undefined);
    });
    proc.once("close", (code, signal) => {
      this.output("console", `tensorpeek: torchrun exited ${signal ? `on ${signal}` : `with code ${code}`}\n`);
      this.end(code ?? undefined);
    });
  }

  private openReportSocket(): Promise<number> {
    const server = createServer((socket) => this.readReports(socket));
    this.report = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, LOOPBACK, () => resolve((server.address() as { port: number }).port));
    });
  }

  private readReports(socket: Socket): void {
    this.sockets.add(socket);
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim()) void this.onReport(line);
      }
    });
    socket.on("error", (err) => this.host.log(`a rank's report socket: ${err.message}`));
    socket.on("close", () => this.sockets.delete(socket));
  }

  private async onReport(line: string): Promise<void> {
    const parsed = parseRankReport(line);
    if (!parsed.ok) {
      this.host.log(`ignored a rank report: ${parsed.error}`);
      return;
    }
    const r = parsed.value;
    if (r.event === "listening") {
      this.worldSize = r.world_size;
      this.output("console", `tensorpeek: rank ${r.rank}/${r.world_size} (pid ${r.pid}) waits for the debugger on ${LOOPBACK}:${r.port}\n`);
      if (!(await this.host.startRank(r))) this.output("stderr", `tensorpeek: VS Code did not start the session of rank ${r.rank}\n`);
      return;
    }
    const text = rankExitText(r, this.worldSize);
    this.output("console", `tensorpeek: ${text}\n`);
    this.host.rankExited(r, text);
  }

  /** Ends the job: SIGTERM to its process group (torchrun passes it on), SIGKILL after a grace period. */
  private async stop(): Promise<void> {
    const proc = this.proc;
    if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      killGroup(proc.pid, "SIGTERM");
      const late = setTimeout(() => killGroup(proc.pid!, "SIGKILL"), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(late);
    }
    this.end(proc?.exitCode ?? undefined);
  }

  private end(exitCode: number | undefined): void {
    if (this.terminated) return;
    this.terminated = true;
    for (const s of this.sockets) s.destroy();
    this.report?.close();
    if (exitCode !== undefined) this.emit("exited", { exitCode });
    this.emit("terminated");
  }

  private output(category: "console" | "stdout" | "stderr", output: string): void {
    this.emit("output", { category, output });
  }

  private emit(event: string, body?: unknown): void {
    this.send({ seq: this.seq++, type: "event", event, ...(body === undefined ? {} : { body }) });
  }

  private respond(request: DapMessage, body?: unknown): void {
    this.send({ seq: this.seq++, type: "response", request_seq: request.seq, command: request.command, success: true, body });
  }

  private respondError(request: DapMessage, message: string): void {
    this.send({ seq: this.seq++, type: "response", request_seq: request.seq, command: request.command, success: false, message });
  }

  private send(message: DapMessage): void {
    for (const l of this.listeners) l(message);
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err; // ESRCH: the group is gone already
  }
}
