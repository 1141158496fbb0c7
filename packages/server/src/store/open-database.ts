import { mkdirSync } from "node:fs";
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { EmbeddedConfig } from "../config.js";
import type { Logger } from "../log.js";
import { statementNameOf } from "./compiled-once.js";
import { openEmbeddedPGlite, type EmbeddedDatabase } from "./embedded-database.js";
import { restrictTreeToOwner } from "./owner-only-modes.js";
import type { Database } from "./schema.js";
import { PGliteDialect } from "./pglite-dialect.js";
import { openPGliteInWorker } from "./pglite-in-worker.js";

/** A notification channel subscription: payloads in, connection state out. */
export interface Subscription {
  close(): Promise<void>;
}
export interface SubscribeHandlers {
  onPayload(payload: string): void;
  /** Called with false when notifications may have been missed, true once flowing again. */
  onConnected(connected: boolean): void;
}

/**
 * The database as the server sees it: typed queries plus PostgreSQL's own
 * notifications. The same interface over a real server and embedded PGlite,
 * so every code path above it runs on both.
 */
export interface Storage {
  readonly kind: "postgres" | "pglite";
  readonly db: Kysely<Database>;
  subscribe(channel: string, handlers: SubscribeHandlers): Promise<Subscription>;
  close(): Promise<void>;
}

const INT8_OID = 20;

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  poolSize?: number;
  /** How the embedded database runs; the defaults are the durable ones. */
  embedded?: EmbeddedConfig;
}

const DURABLE_EMBEDDED: EmbeddedConfig = { fsync: true, thread: "worker" };

export async function openDatabase(options: DatabaseOptions, log?: Logger): Promise<Storage> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.poolSize ?? 10)
    : openPGlite(options.dataDir, options.embedded ?? DURABLE_EMBEDDED, log);
}

/**
 * Sends the queries compiled once (store/compiled-once.ts) as named prepared
 * statements: node-postgres then parses and plans each once per connection.
 * Everything else goes as before.
 */
class PreparingClient extends pg.Client {
  override query(config: unknown, values?: unknown, callback?: unknown) {
    // Kysely calls query(text, values); only that form of a known text is named.
    const name = typeof config === "string" && Array.isArray(values) && callback === undefined ? statementNameOf(config) : undefined;
    const args = name ? [{ name, text: config, values }] : [config, values, callback];
    return Reflect.apply(pg.Client.prototype.query, this, args);
  }
}

async function openPostgres(url: string, poolSize: number): Promise<Storage> {
  // bigint columns (revisions) fit in a double for any realistic lifetime.
  const types = {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
  };
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types, Client: PreparingClient });
  pool.on("error", () => {
    // An idle client died (server restart); the pool replaces it on next use.
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    kind: "postgres",
    db,
    subscribe: (channel, handlers) => subscribePostgres(url, channel, handlers),
    close: () => db.destroy(),
  };
}

/**
 * One dedicated LISTEN connection per channel, reconnected with backoff. While
 * it is down the subscriber is told so, because anything it caches may have
 * missed a change.
 */
async function subscribePostgres(url: string, channel: string, handlers: SubscribeHandlers): Promise<Subscription> {
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempt = 0;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on("notification", (n) => {
      if (n.channel === channel && n.payload !== undefined) handlers.onPayload(n.payload);
    });
    const lost = () => {
      if (client !== c) return;
      client = undefined;
      handlers.onConnected(false);
      c.end().catch(() => {});
      schedule();
    };
    c.on("error", lost);
    c.on("end", lost);
    await c.connect();
    await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    if (closed) {
      await c.end();
      return;
    }
    client = c;
    attempt = 0;
    handlers.onConnected(true);
  };
  const schedule = () => {
    if (closed) return;
    const delay = Math.min(5000, 50 * 2 ** attempt++) * Math.random();
    retryTimer = setTimeout(() => connect().catch(schedule), delay);
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/**
 * The data directory is made owner-only before PGlite opens it (a tree from
 * before modes were restricted is fixed here, once), and PGlite's file layer
 * keeps what it creates owner-only (store/durable-node-fs.ts).
 */
async function openPGlite(dataDir: string, embedded: EmbeddedConfig, log?: Logger): Promise<Storage> {
  const pgdata = path.join(dataDir, "pgdata");
  // Created here, not by PGlite, which would make it 0755.
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  const tightened = restrictTreeToOwner(dataDir);
  if (tightened.length > 0) {
    log?.warn("the data directory was readable by other users: made it owner-only (directories 0700, files 0600)", {
      data_dir: dataDir,
      paths_changed: tightened.length,
    });
  }
  if (!embedded.fsync) {
    log?.warn(
      "ENGINE_CLOUD_EMBEDDED_FSYNC=off: the embedded database does not fsync; acknowledged writes survive a crash of " +
        "the server process but not of the machine (OS crash, power loss)",
    );
  }
  log?.info("embedded database", { data_dir: dataDir, fsync: embedded.fsync, thread: embedded.thread });
  const pglite: EmbeddedDatabase =
    embedded.thread === "worker" ? await openPGliteInWorker(pgdata, embedded) : await openEmbeddedPGlite(pgdata, embedded);
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    kind: "pglite",
    db,
    async subscribe(channel, handlers) {
      const unlisten = await pglite.listen(channel, handlers.onPayload);
      handlers.onConnected(true);
      return { close: () => unlisten() };
    },
    async close() {
      await db.destroy();
      await pglite.close();
    },
  };
}
