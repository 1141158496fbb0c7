import { PGlite } from "@electric-sql/pglite";
import { DurableNodeFS, postgresStartParams } from "./durable-node-fs.js";

/**
 * What the server uses of PGlite: statements and notifications. PGlite itself
 * has this shape (the database on the server's own thread), and so has the
 * client of a PGlite running in a worker thread (store/pglite-in-worker.ts).
 */
export interface EmbeddedDatabase {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  /** Runs a script of statements (simple protocol); one result per statement. */
  exec(sql: string): Promise<Array<{ rows: unknown[]; affectedRows?: number }>>;
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /** fsync the WAL at every commit, so an acknowledged write survives an OS crash or power loss. */
  fsync: boolean;
}

/** PGlite on the data in pgdata, files owner-only, fsync as asked. On the calling thread. */
export function openEmbeddedPGlite(pgdata: string, options: EmbeddedOptions): Promise<PGlite> {
  return PGlite.create({ fs: new DurableNodeFS(pgdata, options), startParams: postgresStartParams(options) });
}
