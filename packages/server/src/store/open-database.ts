import { mkdirSync } from "node:fs";
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Logger } from "../log.js";
import { statementNameOf } from "./compiled-once.js";
import { openEmbeddedPGlite, type EmbeddedDatabase } from "./embedded-database.js";
import { restrictTreeToOwner } from "./owner-only-modes.js";
import type { Database } from "./schema.js";
import { PGliteDialect, type StatementCount } from "./pglite-dialect.js";
import { openPGliteInWorker } from "./pglite-in-worker.js";

/** How the embedded database (PGlite, used without DATABASE_URL) runs. */
export interface EmbeddedConfig {
  /** fsync the WAL at every commit (ENGINE_CLOUD_EMBEDDED_FSYNC, default on): acknowledged writes survive power loss. */
  fsync: boolean;
  /**
   * "worker" (ENGINE_CLOUD_EMBEDDED_THREAD, the default): the database and its file I/O run on a thread of their
   * own; "main": on the thread serving requests, where a slow disk delays calls that touch no database.
   */
  thread: "worker" | "main";
}

/** How long the server waits on PostgreSQL (ENGINE_CLOUD_DB_*_TIMEOUT_MS). */
export interface DatabaseTimeouts {
  /** Opening a connection, and waiting for a free one in the pool. */
  connectMs: number;
  /** One statement (statement_timeout); a database that does not answer at all is dropped a second later. */
  statementMs: number;
  /** A transaction left idle this long is ended by the database (idle_in_transaction_session_timeout). */
  idleInTransactionMs: number;
}

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
  /**
   * Runs work that may legitimately outlast the statement timeout (migrations,
   * waiting for another server's start-up lock) on a connection of its own
   * without one.
   */
  withoutStatementTimeout<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Resolves once the database has answered a trivial statement on a
   * connection of its own: a busy pool is not a database gone, so readiness
   * must not wait in the pool's queue.
   */
  ping(): Promise<void>;
  /** The PostgreSQL pool's use now (for metrics); undefined on the embedded database (one connection). */
  poolStats(): { total: number; idle: number; waiting: number } | undefined;
  /** Statements this store has sent to the database so far (transaction control included), for metrics. */
  statements(): number;
  close(): Promise<void>;
}

const INT8_OID = 20;

// How long a LISTEN connection may sit without proof of life: it is asked
// `SELECT 1` this often, so a database (or a network) that went silent ends
// the subscription within this plus the connect timeout, instead of leaving
// caches trusting a feed that no longer delivers.
const LISTEN_PROBE_MS = 2_000;

// The database answers a statement it cut itself (statement_timeout) with an
// error; only one that does not answer at all is dropped, this much later.
const UNANSWERED_GRACE_MS = 1_000;

export interface OpenDatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  poolSize?: number;
  /** Absent: no bounds (tools and benchmarks); the server always passes the configured ones. */
  databaseTimeouts?: DatabaseTimeouts;
  /** How the embedded database runs; the defaults are the durable ones. */
  embedded?: EmbeddedConfig;
}

const DURABLE_EMBEDDED: EmbeddedConfig = { fsync: true, thread: "worker" };

export async function openDatabase(options: OpenDatabaseOptions, log?: Logger): Promise<Storage> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.poolSize ?? 10, options.databaseTimeouts)
    : openPGlite(options.dataDir, options.embedded ?? DURABLE_EMBEDDED, log);
}

/** What each client of ours is given on top of node-postgres's own settings. */
interface ClientLimits {
  /** A statement with no answer at all after this long drops its connection (0: never). */
  unansweredMs?: number;
  /** Counts each statement sent on the connection. */
  sent?: StatementCount;
}

/**
 * The node-postgres client every connection of ours uses.
 *
 * Sends the queries compiled once (store/compiled-once.ts) as named prepared
 * statements: node-postgres then parses and plans each once per connection.
 *
 * Drops the connection when a statement gets no answer at all in time: the
 * database's statement_timeout cannot help when the database or the network
 * to it is frozen, and node-postgres's own query_timeout leaves the statement
 * on the connection, so the pool would hand a stuck connection to the next
 * caller. A dropped connection also guarantees its open transaction never
 * commits.
 */
class DatabaseClient extends pg.Client {
  readonly #unansweredMs: number;
  readonly #sent: StatementCount;
  /** Why this connection was dropped: what later statements (a ROLLBACK after it) fail with too. */
  #dropped?: Error;

  constructor(config: pg.ClientConfig & ClientLimits = {}) {
    super(config);
    this.#unansweredMs = config.unansweredMs ?? 0;
    this.#sent = config.sent ?? { n: 0 };
    // A socket failure while a caller holds the connection reaches that caller's
    // query as its error; without a listener the event would end the process.
    this.on("error", () => {});
  }

  override query(config: unknown, values?: unknown, callback?: unknown) {
    // Kysely calls query(text, values); only that form of a known text is named.
    const name =
      typeof config === "string" && Array.isArray(values) && callback === undefined ? statementNameOf(config) : undefined;
    const args = name ? [{ name, text: config, values }] : [config, values, callback];
    if (this.#dropped && callback === undefined) return Promise.reject(this.#dropped);
    this.#sent.n++;
    const result = Reflect.apply(pg.Client.prototype.query, this, args);
    if (this.#unansweredMs <= 0 || !(result instanceof Promise)) return result;
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`the database did not answer within ${this.#unansweredMs} ms`), { code: "ETIMEDOUT" });
      this.#dropped = err;
      (this as unknown as { connection: { stream: { destroy(e: Error): void } } }).connection.stream.destroy(err);
    }, this.#unansweredMs);
    return result.finally(() => clearTimeout(timer));
  }
}

/** node-postgres settings for every connection: the timeouts, enforced by the database and by us. */
function clientConfig(url: string, timeouts: DatabaseTimeouts | undefined, types?: pg.CustomTypesConfig) {
  const config: pg.ClientConfig & ClientLimits = { connectionString: url, types, keepAlive: true };
  if (!timeouts) return config;
  return {
    ...config,
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
    // 0 turns both off: node-postgres then sends no statement_timeout, and nothing is dropped.
    unansweredMs: timeouts.statementMs > 0 ? timeouts.statementMs + UNANSWERED_GRACE_MS : 0,
  };
}

function openPostgresPool(
  url: string,
  poolSize: number,
  timeouts: DatabaseTimeouts | undefined,
): { db: Kysely<Database>; pool: pg.Pool; sent: StatementCount } {
  // bigint columns (revisions) fit in a double for any realistic lifetime.
  const types = {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
  };
  // connectionTimeoutMillis bounds both a new connection and the wait for a free one.
  // pg-pool hands its whole config to each client it makes: the count is the pool's, shared by its connections.
  const sent: StatementCount = { n: 0 };
  const config: pg.PoolConfig & ClientLimits = {
    ...clientConfig(url, timeouts, types),
    sent,
    max: poolSize,
    Client: DatabaseClient,
  };
  const pool = new pg.Pool(config);
  pool.on("error", () => {
    // An idle client died (server restart); the pool replaces it on next use.
  });
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool, sent };
}

/**
 * For connections that only run instant statements (LISTEN, SELECT 1): an
 * answer missing for the connect timeout means the database is gone.
 */
function instantTimeouts(timeouts: DatabaseTimeouts | undefined): DatabaseTimeouts | undefined {
  return timeouts && { ...timeouts, statementMs: Math.max(100, timeouts.connectMs - UNANSWERED_GRACE_MS) };
}

async function openPostgres(url: string, poolSize: number, timeouts: DatabaseTimeouts | undefined): Promise<Storage> {
  const { db, pool, sent } = openPostgresPool(url, poolSize, timeouts);
  // One connection of its own, kept open between pings and replaced once it ends.
  let pinger: pg.Client | undefined;
  return {
    kind: "postgres",
    db,
    async ping() {
      let c = pinger;
      if (!c) {
        const fresh = (c = pinger = new DatabaseClient(clientConfig(url, instantTimeouts(timeouts))));
        fresh.once("end", () => {
          if (pinger === fresh) pinger = undefined;
        });
        // Statements sent meanwhile wait for the connection; a failed connect fails them too.
        fresh.connect().catch(() => fresh.end().catch(() => {}));
      }
      await c.query("SELECT 1");
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    statements: () => sent.n,
    subscribe: (channel, handlers) => subscribePostgres(url, timeouts, channel, handlers),
    async withoutStatementTimeout(fn) {
      if (!timeouts) return fn(db);
      const unbounded = openPostgresPool(url, 1, { ...timeouts, statementMs: 0, idleInTransactionMs: 0 }).db;
      try {
        return await fn(unbounded);
      } finally {
        await unbounded.destroy();
      }
    },
    async close() {
      const c = pinger;
      pinger = undefined;
      await c?.end().catch(() => {});
      await db.destroy();
    },
  };
}

/**
 * One dedicated LISTEN connection per channel, reconnected with backoff. While
 * it is down the subscriber is told so, because anything it caches may have
 * missed a change.
 */
async function subscribePostgres(
  url: string,
  timeouts: DatabaseTimeouts | undefined,
  channel: string,
  handlers: SubscribeHandlers,
): Promise<Subscription> {
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  // Without timeouts (tools) there is no bound to enforce, and no probe runs.
  const listenTimeouts = instantTimeouts(timeouts);

  const connect = async (): Promise<void> => {
    const c = new DatabaseClient(clientConfig(url, listenTimeouts));
    let probe: NodeJS.Timeout | undefined;
    c.on("notification", (n) => {
      if (n.channel === channel && n.payload !== undefined) handlers.onPayload(n.payload);
    });
    const lost = () => {
      clearInterval(probe);
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
    // An unanswered probe drops the connection (DatabaseClient), which ends here in lost().
    if (listenTimeouts) probe = setInterval(() => c.query("SELECT 1").catch(() => {}), LISTEN_PROBE_MS);
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
  const dialect = new PGliteDialect(pglite);
  const db = new Kysely<Database>({ dialect });
  return {
    kind: "pglite",
    db,
    withoutStatementTimeout: (fn) => fn(db),
    ping: async () => {},
    poolStats: () => undefined,
    statements: () => dialect.sent.n,
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
