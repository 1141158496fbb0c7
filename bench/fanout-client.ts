/**
 * One client process of the fan-out benchmark (bench/fanout.bench.ts forks a few):
 * it opens its share of Watch streams, one HTTP/2 connection each as a
 * runtime would, and reports when each stream received what. It speaks the
 * Connect streaming protocol by hand and reads only the head of each message
 * (revision and event kind), so the client's own cost stays small next to
 * the server's.
 *
 * Messages from the parent (process.send) and the replies:
 *   open      → opened    every stream CAUGHT_UP (or failed), with counts
 *   collect   → collected per stream, the wall-clock ms at which `revision` arrived
 *                         (what streams reached before `revision` is forgotten: later collects ask higher)
 *   reconnect → (none)    from now on a stream that ends reopens with `since`
 *   close     → closed    all connections closed
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import { backoffDelay } from "../packages/sdk/src/backoff-delay.js";

export interface OpenCommand {
  type: "open";
  url: string;
  streams: number;
  /** Bearer tokens, used round-robin. */
  tokens: string[];
  project: string;
  since: number;
  /** Extra request headers: a connect-timeout-ms sends the stream down the stock connect path. */
  headers?: Record<string, string>;
  /** Source addresses to spread the connections over (ClientFleetOptions.sourceAddresses); absent: the default. */
  sourceAddresses?: number;
  timeoutMs: number;
}
export interface CollectCommand {
  type: "collect";
  /** The revision to wait for: a change at it, or a CAUGHT_UP at or past it. */
  revision: number;
  timeoutMs: number;
}
export interface ReconnectCommand {
  type: "reconnect";
  since: number;
  /** Keep what streams reached (a soak turns reconnecting on for streams that stay open); default: forget it. */
  keep?: boolean;
  /** Ceiling of the backoff (the SDK's default is 30 s); a low one makes the herd land at once. */
  maxBackoffMs: number;
}
export type ClientCommand = OpenCommand | CollectCommand | ReconnectCommand | { type: "close" };

export type ClientReply =
  | { type: "opened"; caughtUp: number; failed: number; firstError?: string }
  | { type: "collected"; times: number[]; missing: number; reconnects: number }
  | { type: "closed" };

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of one machine. */
export const wallClockMs = () => performance.timeOrigin + performance.now();

// WatchResponse field numbers (proto/engine/cloud/v1/sync_service.proto).
const FIELD_REVISION = 1;
const FIELD_UPSERT = 3;
const FIELD_DELETE = 4;
const FIELD_CAUGHT_UP = 5;

/** Tries to open each stream before it counts as failed. */
const OPEN_ATTEMPTS = 5;

interface Stream {
  session?: http2.ClientHttp2Session;
  /** The source address of its connections, when the fleet spreads them. */
  localAddress?: string;
  /** Bytes of a frame split across reads. */
  partial?: Buffer;
  caughtUp: boolean;
  failed: boolean;
  attempts: number;
  /** Reconnects since the stream last caught up. */
  retries: number;
  /** Highest revision seen in a change or CAUGHT_UP, and when each was first reached. */
  reached: Map<number, number>;
  /** The highest revision in `reached`: what a collect checks on every message, in O(1) per stream. */
  highest: number;
}

let reconnectSince: number | undefined;
let maxBackoffMs = 30_000;
let reconnects = 0;
let closing = false;
const streams: Stream[] = [];
const changed = new Set<() => void>();
let firstError: string | undefined;

const notify = () => {
  for (const f of changed) f();
};

function requestFrame(project: string, since: number): Buffer {
  // WatchRequest { string project = 1; int64 since_revision = 2; } encoded by hand.
  const name = Buffer.from(project);
  const sinceBytes: number[] = [];
  for (let v = since; ;) {
    if (v < 0x80) {
      sinceBytes.push(v);
      break;
    }
    sinceBytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  const body = Buffer.concat([
    Buffer.from([0x0a, name.length]),
    name,
    since > 0 ? Buffer.from([0x10, ...sinceBytes]) : Buffer.alloc(0),
  ]);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/** The revision and event field of a WatchResponse, from its first bytes. */
function headOf(message: Buffer): { revision: number; field: number } {
  let pos = 0;
  let revision = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = message[pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
  };
  while (pos < message.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    if (field === FIELD_REVISION) revision = varint();
    else return { revision, field };
  }
  return { revision, field: 0 };
}

function reach(s: Stream, revision: number, at: number): void {
  if (!s.reached.has(revision)) s.reached.set(revision, at);
  if (revision > s.highest) s.highest = revision;
  notify();
}

function onMessage(s: Stream, message: Buffer, at: number): void {
  const { revision, field } = headOf(message);
  if (field === FIELD_CAUGHT_UP) {
    s.caughtUp = true;
    s.retries = 0;
    reach(s, revision, at);
  } else if ((field === FIELD_UPSERT || field === FIELD_DELETE) && s.caughtUp) {
    reach(s, revision, at);
  }
}

function onData(s: Stream, chunk: Buffer): void {
  const at = wallClockMs();
  let buf = s.partial ? Buffer.concat([s.partial, chunk]) : chunk;
  s.partial = undefined;
  while (buf.length >= 5) {
    const length = buf.readUInt32BE(1);
    if (buf.length < 5 + length) break;
    if (buf[0] === 0) onMessage(s, buf.subarray(5, 5 + length), at);
    buf = buf.subarray(5 + length);
  }
  if (buf.length > 0) s.partial = Buffer.from(buf);
}

function connect(s: Stream, cmd: OpenCommand, token: string, since: number): void {
  const localAddress = s.localAddress;
  const session = http2.connect(
    cmd.url,
    localAddress
      ? { createConnection: (to: URL) => net.connect({ host: to.hostname, port: Number(to.port), localAddress }) }
      : {},
  );
  s.attempts++;
  s.session = session;
  s.partial = undefined;
  s.caughtUp = false;
  const ended = () => {
    if (s.session !== session || closing) return;
    s.session = undefined;
    session.destroy();
    if (reconnectSince !== undefined) {
      reconnects++;
      // As the SDK's sync provider retries: exponential backoff with full jitter, from 250 ms.
      setTimeout(() => connect(s, cmd, token, reconnectSince!), backoffDelay(s.retries++, { maxMs: maxBackoffMs }));
    } else if (!s.caughtUp && s.attempts < OPEN_ATTEMPTS) {
      // A connection refused while thousands open at once: retry, as a runtime would.
      setTimeout(() => connect(s, cmd, token, since), 100 + Math.random() * 400);
    } else if (!s.caughtUp) {
      s.failed = true;
      notify();
    }
  };
  session.on("error", (err) => {
    firstError ??= String(err);
    ended();
  });
  const req = session.request({
    ":method": "POST",
    ":path": "/engine.cloud.v1.SyncService/Watch",
    "content-type": "application/connect+proto",
    authorization: `Bearer ${token}`,
    ...cmd.headers,
  });
  req.on("data", (chunk: Buffer) => onData(s, chunk));
  req.on("error", (err) => {
    firstError ??= String(err);
  });
  req.on("close", ended);
  req.end(requestFrame(cmd.project, since));
}

/** Resolves when `done()` holds, re-checked on every stream change, or after `timeoutMs`. */
function until(done: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!done()) return;
      changed.delete(check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      changed.delete(check);
      resolve();
    }, timeoutMs);
    changed.add(check);
    check();
  });
}

async function handle(cmd: ClientCommand): Promise<ClientReply | undefined> {
  switch (cmd.type) {
    case "open": {
      // Connections are opened in small batches: a thousand SYNs at once overflow the listen backlog.
      for (let i = 0; i < cmd.streams; i++) {
        const s: Stream = { caughtUp: false, failed: false, attempts: 0, retries: 0, reached: new Map(), highest: 0 };
        if (cmd.sourceAddresses) s.localAddress = `127.0.0.${2 + (i % cmd.sourceAddresses)}`;
        streams.push(s);
        connect(s, cmd, cmd.tokens[i % cmd.tokens.length], cmd.since);
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
      }
      await until(() => streams.every((s) => s.caughtUp || s.failed), cmd.timeoutMs);
      return {
        type: "opened",
        caughtUp: streams.filter((s) => s.caughtUp).length,
        failed: streams.filter((s) => !s.caughtUp).length,
        firstError,
      };
    }
    case "collect": {
      const reachedAt = (s: Stream) => {
        let first = Infinity;
        for (const [revision, at] of s.reached) if (revision >= cmd.revision && at < first) first = at;
        return first;
      };
      // Checked on every message: with thousands of streams and changes, it must not scan what they reached.
      await until(() => streams.every((s) => s.highest >= cmd.revision), cmd.timeoutMs);
      const times = streams.map(reachedAt).filter((t) => t < Infinity);
      // A soak collects every few seconds for minutes: keep memory flat.
      for (const s of streams) for (const revision of s.reached.keys()) if (revision < cmd.revision) s.reached.delete(revision);
      return { type: "collected", times, missing: streams.length - times.length, reconnects };
    }
    case "reconnect":
      reconnectSince = cmd.since;
      maxBackoffMs = cmd.maxBackoffMs;
      if (cmd.keep) return undefined;
      for (const s of streams) {
        s.reached.clear();
        s.highest = 0;
        s.caughtUp = false;
      }
      return undefined;
    case "close":
      closing = true;
      reconnectSince = undefined;
      for (const s of streams) s.session?.destroy();
      return { type: "closed" };
  }
}

if (process.send) {
  process.on("message", (cmd: ClientCommand) => {
    void handle(cmd).then((reply) => {
      if (reply) process.send!(reply);
      if (cmd.type === "close") setTimeout(() => process.exit(0), 50);
    });
  });
  // The parent going away ends this process too: no orphaned load generators.
  process.on("disconnect", () => process.exit(0));
}
