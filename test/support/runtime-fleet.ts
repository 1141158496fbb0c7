import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { CredentialType } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient, createSyncProvider, type CloudProtocol, type EngineSyncProvider } from "@engine-cloud/sdk/node";
import { expect } from "vitest";
import { REPO_ROOT } from "./test-server.js";
import { isChange } from "./watch-recorder.js";

/**
 * Runtimes of the two kinds the fault suites hold to the same invariants:
 * the SDK's EngineSyncProvider, and a runtime built on @grpc/grpc-js alone
 * (proto-loader, no code of ours) that resumes from its last revision and
 * replaces a stream that stayed silent past three heartbeats, as the SDK does.
 */

/** One change a runtime applied: its revision and what it was about. */
export interface AppliedChange {
  revision: number;
  id: string;
  kind: "upsert" | "delete";
}

export interface Runtime {
  name: string;
  /** Changes applied after the first CAUGHT_UP, in order, across every stream it held. */
  readonly changes: AppliedChange[];
  /** The revision it is current to. */
  revision(): number;
  /** Ids of the credentials it holds. */
  held(): Set<string>;
  /** Streams it opened (1 + reconnects). */
  streams(): number;
  /** Resolves once its first stream has caught up. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

const SYNC_PROTO = (() => {
  const definition = protoLoader.loadSync(["engine/cloud/v1/sync_service.proto"], {
    includeDirs: [path.join(REPO_ROOT, "proto")],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (grpc.loadPackageDefinition(definition) as any).engine.cloud.v1;
})();

interface GrpcWatchEvent {
  revision: string;
  event: "reset" | "upsert" | "delete" | "caughtUp" | "heartbeat";
  upsert?: { id: string };
  delete?: { id: string };
}

/** A grpc-js runtime of `project` against `address` (host:port). */
export function startGrpcRuntime(name: string, address: string, token: string, project: string, heartbeatMs: number): Runtime {
  // One channel per runtime, as separate processes would have.
  const client = new SYNC_PROTO.SyncService(address, grpc.credentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": 50,
    "grpc.max_reconnect_backoff_ms": 500,
  });
  const changes: AppliedChange[] = [];
  const held = new Set<string>();
  let revision = 0;
  let caughtUp = false;
  let streams = 0;
  let closed = false;
  let current: grpc.ClientReadableStream<GrpcWatchEvent> | undefined;
  let staleTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let becameReady!: () => void;
  const ready = new Promise<void>((resolve) => (becameReady = resolve));

  const open = () => {
    if (closed) return;
    streams++;
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    const call: grpc.ClientReadableStream<GrpcWatchEvent> = client.watch({ project, sinceRevision: String(revision) }, md);
    current = call;
    let ended = false;
    const restart = () => {
      if (ended) return;
      ended = true;
      clearTimeout(staleTimer);
      call.removeAllListeners("data");
      call.on("error", () => {});
      call.cancel();
      retryTimer = setTimeout(open, 50 + Math.random() * 150);
    };
    const armStale = () => {
      clearTimeout(staleTimer);
      staleTimer = setTimeout(restart, 3 * heartbeatMs);
    };
    armStale();
    call.on("data", (e: GrpcWatchEvent) => {
      armStale();
      const r = Number(e.revision);
      if (e.event === "upsert" || e.event === "delete") {
        const id = (e.upsert ?? e.delete)!.id;
        if (e.event === "upsert") held.add(id);
        else held.delete(id);
        if (caughtUp) changes.push({ revision: r, id, kind: e.event });
        revision = r;
      } else if (e.event === "caughtUp") {
        caughtUp = true;
        becameReady();
        revision = r;
      } else if (e.event === "reset") {
        held.clear();
      }
    });
    call.on("error", restart);
    call.on("end", restart);
  };
  open();
  return {
    name,
    changes,
    revision: () => revision,
    held: () => new Set(held),
    streams: () => streams,
    ready,
    async close() {
      closed = true;
      clearTimeout(staleTimer);
      clearTimeout(retryTimer);
      current?.on("error", () => {});
      current?.cancel();
      client.close();
    },
  };
}

/** An SDK runtime (EngineSyncProvider) with a cache of its own. */
export async function startSdkRuntime(
  name: string,
  baseUrl: string,
  token: string,
  project: string,
  heartbeatMs: number,
  /** The wire protocol (the SDK's default: Connect over HTTP/1.1 on cleartext). */
  protocol?: CloudProtocol,
): Promise<Runtime> {
  const dir = mkdtempSync(path.join(tmpdir(), "engine-fault-runtime-"));
  const provider: EngineSyncProvider = createSyncProvider({
    baseUrl,
    token,
    project,
    protocol,
    cachePath: path.join(dir, "cache.bin"),
    cacheKey: randomBytes(32),
    env: {},
    backoff: { initialMs: 50, maxMs: 500 },
    heartbeatIntervalMs: heartbeatMs,
  });
  const changes: AppliedChange[] = [];
  let caughtUp = false;
  let streams = 0;
  provider.onChange((c) => {
    if (!caughtUp || c.type === "reset") return;
    changes.push({ revision: Number(c.revision), id: c.type === "upsert" ? c.credential.id : c.id, kind: c.type });
  });
  provider.onError(() => streams++);
  await provider.start();
  await provider.waitForSync();
  caughtUp = true;
  return {
    name,
    changes,
    revision: () => Number(provider.status().revision),
    held: () => new Set(provider.list().map((c) => c.id)),
    streams: () => 1 + streams,
    ready: Promise.resolve(),
    async close() {
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What the server holds for the project: the ids and the revision, as a Pull by a runtime token reads them. */
export async function serverState(client: CloudClient, project: string): Promise<{ revision: number; ids: Set<string> }> {
  const pulled = await client.sync.pull({ project, sinceRevision: 0n });
  const ids = new Set<string>();
  for (const e of pulled.events.filter(isChange)) {
    if (e.event.case === "upsert") ids.add(e.event.value.id);
    else if (e.event.case === "delete") ids.delete(e.event.value.id);
  }
  return { revision: Number(pulled.revision), ids };
}

/** Waits until every runtime is at `revision` (or fails naming the laggards). */
export async function untilConverged(runtimes: Runtime[], revision: number, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (runtimes.every((r) => r.revision() >= revision)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const behind = runtimes.filter((r) => r.revision() < revision).map((r) => `${r.name} at ${r.revision()}`);
  throw new Error(`runtimes still behind revision ${revision} after ${timeoutMs} ms: ${behind.join(", ")}`);
}

/**
 * The invariants every runtime keeps through any fault: revisions strictly
 * increasing (nothing twice, nothing out of order); the state held equal to
 * the server's; every acknowledged write held. A runtime that saw every change
 * live (`fromRevision`) must have seen each revision after it exactly once.
 */
export function expectConvergedRuntimes(
  runtimes: Runtime[],
  server: { revision: number; ids: Set<string> },
  acked: { puts: Set<string>; deletes: Set<string> },
  fromRevision?: number,
) {
  for (const r of runtimes) {
    const revisions = r.changes.map((c) => c.revision);
    const out = revisions.findIndex((v, i) => i > 0 && v <= revisions[i - 1]);
    expect(out, `${r.name}: revisions not strictly increasing at ${out}: ${revisions.slice(Math.max(0, out - 3), out + 2)}`).toBe(
      -1,
    );
    expect(r.revision(), `${r.name}: revision`).toBe(server.revision);
    expect([...r.held()].sort(), `${r.name}: credentials held`).toEqual([...server.ids].sort());
    expect(
      [...acked.puts].filter((id) => !r.held().has(id)),
      `${r.name}: acknowledged puts missing`,
    ).toEqual([]);
    expect(
      [...acked.deletes].filter((id) => r.held().has(id)),
      `${r.name}: acknowledged deletes still held`,
    ).toEqual([]);
    if (fromRevision !== undefined) {
      const expected = Array.from({ length: server.revision - fromRevision }, (_, i) => fromRevision + 1 + i);
      expect(
        revisions.filter((v) => v > fromRevision),
        `${r.name}: every revision once`,
      ).toEqual(expected);
    }
  }
}

/** A client of the platform admin acting in a tenant, for writes. */
export const adminIn = (url: string, adminToken: string, tenant: string): CloudClient =>
  createCloudClient({ baseUrl: url, token: adminToken, tenant });

export interface Writers {
  /** Ids whose put or delete the server acknowledged. */
  acked: { puts: Set<string>; deletes: Set<string> };
  /** Acknowledged writes so far. */
  count(): number;
  /** Stops writing and waits for the calls in flight. */
  stop(): Promise<void>;
}

/**
 * Writes through `client` until stopped: puts of new credentials, and deletes
 * of `deletable` (credentials older than every stream, so that a resumed
 * stream's catch-up can skip none of the revisions). Each call has a deadline:
 * one that fails is simply not acknowledged.
 */
export function startWriters(client: CloudClient, project: string, deletable: string[], writers = 2, pauseMs = 40): Writers {
  const acked = { puts: new Set<string>(), deletes: new Set<string>() };
  const toDelete = [...deletable];
  let stopped = false;
  let n = 0;
  const writer = async (w: number) => {
    for (let i = 0; !stopped; i++) {
      try {
        if (i % 4 === 3 && toDelete.length) {
          const id = toDelete.shift()!;
          await client.credentials.deleteCredential({ id }, { timeoutMs: 5000 });
          acked.deletes.add(id);
        } else {
          const alias = `w${w}-${i}-${randomBytes(3).toString("hex")}`;
          const { credential } = await client.credentials.putCredential(
            { project, provider: "fault", alias, type: CredentialType.API_KEY, keys: { api_key: { value: alias } } },
            { timeoutMs: 5000 },
          );
          acked.puts.add(credential!.id);
        }
        n++;
      } catch {
        // Not acknowledged: it may or may not have landed, and the runtimes must agree with the server either way.
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const running = Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  return {
    acked,
    count: () => n,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** `count` credentials of the project, put before any runtime starts. */
export async function preexisting(client: CloudClient, project: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { credential } = await client.credentials.putCredential({
      project,
      provider: "fault",
      alias: `pre-${i}`,
      type: CredentialType.API_KEY,
      keys: { api_key: { value: `pre-${i}` } },
    });
    ids.push(credential!.id);
  }
  return ids;
}

/** Resolves once `writers` acknowledged `more` writes beyond those so far (bounded). */
export async function afterWrites(writers: Writers, more: number, timeoutMs = 30_000): Promise<void> {
  const target = writers.count() + more;
  const deadline = performance.now() + timeoutMs;
  while (writers.count() < target) {
    if (performance.now() > deadline) throw new Error(`fewer than ${more} writes acknowledged within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
