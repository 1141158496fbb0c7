import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ClientCommand, ClientReply } from "./fanout-client.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface ClientFleetOptions {
  /**
   * Spread the client ends over 127.0.0.2 … 127.0.0.(1+N): one source address has ~28,000 ephemeral ports
   * towards a server port, and a table's closed connections hold theirs in TIME_WAIT for a minute.
   */
  sourceAddresses?: number;
  /** The project every stream watches. */
  project: string;
  /** How long opening every stream may take. */
  openTimeoutMs: number;
  /** How long a collect waits for every stream by default. */
  collectTimeoutMs: number;
}

/**
 * Client processes (bench/fanout-client.ts), each with its share of the
 * Watch streams, one HTTP/2 connection per stream: what bench/fanout.bench.ts and
 * bench/soak.bench.ts drive.
 */
export class ClientFleet {
  readonly #children: ChildProcess[] = [];
  readonly #shares: number[];
  readonly #options: ClientFleetOptions;

  constructor(total: number, count: number, options: ClientFleetOptions) {
    this.#options = options;
    this.#shares = Array.from({ length: count }, (_, i) => Math.floor(total / count) + (i < total % count ? 1 : 0));
    for (let i = 0; i < count; i++) {
      this.#children.push(fork(path.join(HERE, "fanout-client.ts"), [], { execArgv: ["--import", "tsx"], stdio: "inherit" }));
    }
  }

  /** The client processes' ids, to read their memory. */
  get pids(): number[] {
    return this.#children.map((c) => c.pid!);
  }

  /** Sends each child its command and awaits every reply (bounded by `timeoutMs`). */
  async ask(command: (share: number, i: number) => ClientCommand, timeoutMs: number): Promise<ClientReply[]> {
    return Promise.all(
      this.#children.map(
        (child, i) =>
          new Promise<ClientReply>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("a client process did not answer in time")), timeoutMs);
            child.once("message", (reply: ClientReply) => {
              clearTimeout(timer);
              resolve(reply);
            });
            child.send(command(this.#shares[i], i));
          }),
      ),
    );
  }

  tell(command: ClientCommand): void {
    for (const child of this.#children) child.send(command);
  }

  async open(url: string, tokens: string[], since: number, headers?: Record<string, string>) {
    const { project, openTimeoutMs, sourceAddresses } = this.#options;
    const replies = await this.ask(
      (streams) => ({ type: "open", url, streams, tokens, project, since, headers, sourceAddresses, timeoutMs: openTimeoutMs }),
      openTimeoutMs + 10_000,
    );
    let caughtUp = 0;
    let failed = 0;
    let firstError: string | undefined;
    for (const r of replies) {
      if (r.type !== "opened") continue;
      caughtUp += r.caughtUp;
      failed += r.failed;
      firstError ??= r.firstError;
    }
    return { caughtUp, failed, firstError };
  }

  /** Per stream, the wall-clock ms at which it reached `revision`; and reconnects so far. */
  async collect(revision: number, timeoutMs = this.#options.collectTimeoutMs) {
    // The client processes answer once their own timeout passes; a busy one may take a while longer to.
    const replies = await this.ask(() => ({ type: "collect", revision, timeoutMs }), timeoutMs + 60_000);
    const times: number[] = [];
    let missing = 0;
    let reconnects = 0;
    for (const r of replies) {
      if (r.type !== "collected") continue;
      times.push(...r.times);
      missing += r.missing;
      reconnects += r.reconnects;
    }
    return { times, missing, reconnects };
  }

  async close(): Promise<void> {
    await this.ask(() => ({ type: "close" }), 10_000).catch(() => {});
    for (const c of this.#children) if (c.exitCode === null) c.kill();
  }
}
