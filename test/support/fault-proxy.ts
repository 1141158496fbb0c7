import { once } from "node:events";
import net from "node:net";

/**
 * A TCP proxy on loopback that fault tests put between two parties (runtimes
 * and the server, the server and PostgreSQL) to break the network between
 * them on command, without touching either: the shared PostgreSQL is never
 * restarted or stopped, a proxy in front of it is.
 *
 * Faults, each until undone or replaced:
 * - `pause()` stops reading on every connection, as a frozen peer does: bytes
 *   wait in kernel buffers and arrive, in order, on `resume()`; new connections
 *   are accepted and wait too.
 * - `blackhole()` drops every byte both ways, with the connections left open:
 *   a peer gone without a FIN or RST. `forward()` ends it (what was dropped stays lost).
 * - `delay(ms)` holds every chunk `ms` before passing it on, order kept.
 * - `cutAll()` resets every open connection (RST), as a restart of the peer does;
 *   new connections are served as before.
 * - `refuse()` resets every new connection at once, as a peer that is down does,
 *   until `forward()`.
 * - `retarget(port)` sends new connections elsewhere (a load balancer moving on).
 */
export interface FaultProxy {
  /** Where to connect instead of the target. */
  readonly port: number;
  readonly host: string;
  /** Connections open now. */
  readonly openConnections: number;
  /** Connections accepted since the proxy started. */
  readonly acceptedConnections: number;
  pause(): void;
  resume(): void;
  blackhole(): void;
  refuse(): void;
  /** Ends blackhole, refuse and delay. */
  forward(): void;
  delay(ms: number): void;
  cutAll(): void;
  retarget(port: number, host?: string): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export async function startFaultProxy(target: { port: number; host?: string }): Promise<FaultProxy> {
  let targetPort = target.port;
  let targetHost = target.host ?? "127.0.0.1";
  let paused = false;
  let dropping = false;
  let refusing = false;
  let delayMs = 0;
  let accepted = 0;
  const pairs = new Set<Pair>();

  /** Passes `from`'s bytes to `to` under the faults in force; a per-direction queue keeps order under delay. */
  const relay = (from: net.Socket, to: net.Socket) => {
    const queue: Array<{ due: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      const now = performance.now();
      while (queue.length && queue[0].due <= now) {
        const { chunk } = queue.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length) timer = setTimeout(drain, queue[0].due - now);
    };
    from.on("data", (chunk: Buffer) => {
      if (dropping) return;
      if (delayMs === 0 && queue.length === 0) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      queue.push({ due: performance.now() + delayMs, chunk });
      timer ??= setTimeout(drain, delayMs);
    });
    from.on("end", () => {
      if (!to.destroyed) to.end();
    });
    from.on("close", () => clearTimeout(timer));
  };

  const server = net.createServer((client) => {
    accepted++;
    if (refusing) {
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ port: targetPort, host: targetHost });
    const pair = { client, upstream };
    pairs.add(pair);
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      if (paused) socket.pause();
      // A reset or an unreachable target ends both sides at once; the other party sees the connection drop.
      socket.on("error", () => destroyPair(pair, true));
      socket.on("close", () => destroyPair(pair, false));
    }
    relay(client, upstream);
    relay(upstream, client);
  });

  const destroyPair = (pair: Pair, reset: boolean) => {
    if (!pairs.delete(pair)) return;
    for (const socket of [pair.client, pair.upstream]) {
      if (socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroySoon();
    }
  };

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;

  const eachSocket = (fn: (s: net.Socket) => void) => {
    for (const { client, upstream } of pairs) {
      fn(client);
      fn(upstream);
    }
  };

  return {
    port,
    host: "127.0.0.1",
    get openConnections() {
      return pairs.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    pause() {
      paused = true;
      eachSocket((s) => s.pause());
    },
    resume() {
      paused = false;
      eachSocket((s) => s.resume());
    },
    blackhole() {
      dropping = true;
    },
    refuse() {
      refusing = true;
    },
    forward() {
      refusing = false;
      dropping = false;
      delayMs = 0;
    },
    delay(ms: number) {
      delayMs = ms;
    },
    cutAll() {
      for (const pair of [...pairs]) destroyPair(pair, true);
    },
    retarget(newPort: number, host = "127.0.0.1") {
      targetPort = newPort;
      targetHost = host;
    },
    async close() {
      for (const pair of [...pairs]) destroyPair(pair, true);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
