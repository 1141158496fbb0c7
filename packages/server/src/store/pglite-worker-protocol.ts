/** Messages between the server's thread and the embedded database's worker (store/pglite-worker.ts). */
export type WorkerRequest = { id: number } & (
  | { op: "query"; sql: string; params: unknown[] }
  | { op: "exec"; sql: string }
  | { op: "listen"; channel: string; listenId: number }
  | { op: "unlisten"; listenId: number }
  | { op: "close" }
);

export type WorkerReply =
  | { kind: "ready" }
  | { kind: "failed"; error: SerializedError }
  | { kind: "result"; id: number; result: unknown }
  | { kind: "error"; id: number; error: SerializedError }
  | { kind: "notify"; listenId: number; payload: string };

/** An error's message and its scalar fields (a postgres error's code, constraint, detail…). */
export type SerializedError = { message: string; fields: Record<string, string | number | boolean> };

export function serializeError(err: unknown): SerializedError {
  const fields: SerializedError["fields"] = {};
  if (err instanceof Error) {
    for (const [k, v] of Object.entries(err)) {
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") fields[k] = v;
    }
    fields.name = err.name;
  }
  return { message: err instanceof Error ? err.message : String(err), fields };
}

/** Callers test what a driver's error carries (e.g. code 23505); the copy carries the same. */
export function deserializeError(e: SerializedError): Error {
  return Object.assign(new Error(e.message), e.fields);
}
