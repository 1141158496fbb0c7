import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { EmbeddedDatabase, EmbeddedOptions } from "./embedded-database.js";
import { deserializeError, type WorkerReply, type WorkerRequest } from "./pglite-worker-protocol.js";

type Request = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/**
 * The worker's script. Built, it sits beside this module; run from the
 * TypeScript sources (vitest, tsx) a worker cannot load a .ts file, so the
 * built copy in dist/ is used (the test run and `npm install` build it).
 */
function workerScript(): URL {
  const sibling = new URL("./pglite-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  return new URL("../../dist/store/pglite-worker.js", import.meta.url);
}

/**
 * The embedded database in a worker thread of its own: PGlite's file I/O
 * (synchronous, fsync included) then blocks that thread, not the one serving
 * requests. Statements go over the worker's message port; notifications come
 * back the same way, in the order PGlite raised them.
 */
export async function openPGliteInWorker(pgdata: string, options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const worker = new Worker(workerScript(), { workerData: { pgdata, options } });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners = new Map<number, (payload: string) => void>();
  let nextId = 1;
  let failure: Error | undefined;

  const ready = new Promise<void>((resolve, reject) => {
    worker.on("message", (m: WorkerReply) => {
      switch (m.kind) {
        case "ready":
          return resolve();
        case "failed":
          return reject(deserializeError(m.error));
        case "notify":
          return listeners.get(m.listenId)?.(m.payload);
        case "result":
        case "error": {
          const p = pending.get(m.id);
          pending.delete(m.id);
          if (m.kind === "result") p?.resolve(m.result);
          else p?.reject(deserializeError(m.error));
        }
      }
    });
    // A worker that dies takes the database with it: every waiting and later call fails.
    const fail = (err: Error) => {
      failure ??= err;
      reject(failure);
      for (const p of pending.values()) p.reject(failure);
      pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the embedded database's worker thread exited (code ${code})`)));
  });

  const call = <T>(req: Request): Promise<T> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  };

  try {
    await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  return {
    query: (sql, params = []) => call({ op: "query", sql, params }),
    exec: (sql) => call({ op: "exec", sql }),
    async listen(channel, onPayload) {
      const listenId = nextId++;
      listeners.set(listenId, onPayload);
      await call({ op: "listen", channel, listenId });
      return async () => {
        listeners.delete(listenId);
        await call({ op: "unlisten", listenId });
      };
    },
    async close() {
      try {
        await call({ op: "close" });
      } finally {
        await worker.terminate();
      }
    },
  };
}
