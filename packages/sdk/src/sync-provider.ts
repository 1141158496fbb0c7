import { hostname } from "node:os";
import { Code, type Transport } from "@connectrpc/connect";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff-delay.js";
import { loadCacheKey } from "./cache-key.js";
import { createCloudClient, type CloudProtocol } from "./node-client.js";
import { CloudConfigError, readCloudEnv, requireSetting } from "./cloud-env.js";
import { createCoalescedWriter } from "./coalesced-writer.js";
import type { CredentialRef } from "./credential-ref.js";
import { codeName, describeCloudError } from "./errors.js";
import { SDK_NAME, SDK_VERSION } from "./version.js";
import { type Credential, ErrorReason, reasonOf, ResourceKind, ResourceKindSchema, type WatchResponse } from "@engine-cloud/api";
import {
  CacheCorruptError,
  CacheVersionError,
  defaultCachePath,
  readLocalCache,
  serverFingerprint,
  writeLocalCache,
  type LocalCacheContents,
} from "./local-cache.js";
import {
  createSyncState,
  resourceKeyOf,
  type KnownResourceKind,
  type ResourceChange,
  type ResourceOfKind,
  type SyncChange,
  type SyncSnapshot,
  type SyncState,
} from "./sync-state.js";

/** How often the server sends heartbeats on an idle stream. */
export const SERVER_HEARTBEAT_INTERVAL_MS = 15_000;

/** Where the provider's diagnostics go; every method optional (console fits). No secret is ever passed. */
export type SyncLogger = Partial<
  Record<"debug" | "info" | "warn" | "error", (message: string, fields?: Record<string, unknown>) => void>
>;

export interface SyncProviderOptions {
  /** Server URL; default ENGINE_CLOUD_URL. */
  baseUrl?: string;
  /** Runtime token; default ENGINE_OAUTH_API_KEY. */
  token?: string;
  /** The project this runtime serves; default ENGINE_CLOUD_PROJECT. */
  project?: string;
  /**
   * The resource kinds to sync, e.g. [ResourceKind.CREDENTIAL, ResourceKind.PROJECT]; read kinds other than
   * credentials with resources(kind). Default none: credentials only, asked for exactly as runtimes always have.
   * A list without ResourceKind.CREDENTIAL syncs no credentials.
   */
  kinds?: readonly KnownResourceKind[];
  /** Wire protocol; default "connect". */
  protocol?: CloudProtocol;
  /** The local cache file; default ~/.engine/cloud-cache-<project>.bin. */
  cachePath?: string;
  /** The cache key (32 bytes, or their hex or base64); default ENGINE_CREDENTIAL_KEY, else the key file. */
  cacheKey?: Uint8Array | string;
  /** Key file used (and created, mode 0600) when no key is given; default ~/.engine/credential.key. */
  cacheKeyFile?: string;
  /** Names this runtime in the server's logs; default "<hostname>/<pid>". */
  runtimeId?: string;
  /**
   * Who this runtime is, as `engine-cloud runtime list` shows it: the application's name and version
   * (e.g. "engine-oss", "0.9.2"). The SDK adds its own name and version, the language and the host name.
   */
  runtimeName?: string;
  runtimeVersion?: string;
  /** Reconnect delays: full jitter under min(maxMs, initialMs·2^attempt). */
  backoff?: BackoffOptions;
  /** The server's heartbeat interval; default 15 s. */
  heartbeatIntervalMs?: number;
  /** A stream silent this long is dead and is replaced; default 3 × heartbeatIntervalMs. */
  staleAfterMs?: number;
  logger?: SyncLogger;
  /** Where to read defaults from; default process.env. */
  env?: Record<string, string | undefined>;
  /** Use this transport instead of building one (tests, custom TLS). */
  transport?: Transport;
}

/** A problem the provider met. It keeps serving what it holds and keeps trying. */
export interface SyncError {
  /**
   * Connect code name, e.g. "unauthenticated", "unavailable"; "data_loss" for an unusable cache,
   * "failed_precondition" for one in a newer SDK's format.
   */
  code: string;
  /**
   * Stable reason: the server's (an ErrorReason name, e.g. "TOKEN_REVOKED", "PROJECT_DENIED") or one of the
   * provider's own, for failures no server reported: "CACHE_UNREADABLE", "CACHE_FORMAT_NEWER", "CACHE_WRITE_FAILED",
   * "STREAM_ENDED", "STREAM_STALE", "SERVER_UNAVAILABLE".
   */
  reason: string;
  message: string;
  /** The server refused this runtime (token, project or tenant): retrying will not help until an admin acts. */
  fatal: boolean;
  at: Date;
}

export type SyncConnectionState = "connecting" | "connected" | "offline";

export interface SyncStatus {
  /** "connected" once the stream has caught up; "connecting" until then; "offline" between attempts. */
  state: SyncConnectionState;
  /** The last revision applied. */
  revision: bigint;
  /** Since when what is served may be out of date; unset while connected and caught up. */
  staleSince?: Date;
  /** The most recent problem, kept after recovery for diagnosis. */
  lastError?: SyncError;
}

/** Keeps a runtime's credentials in sync with Engine Cloud, served from memory and a local cache. */
export interface EngineSyncProvider {
  /**
   * Loads the local cache, then connects in the background. Resolves once the
   * cache is loaded: get() answers from then on, also with the server down.
   * Rejects only for configuration errors (e.g. a malformed cache key).
   */
  start(): Promise<void>;
  /** Resolves when the first stream has caught up; rejects if the provider is closed first. */
  waitForSync(): Promise<void>;
  /**
   * A credential by id, "provider/alias", "provider" (alias "default") or an
   * object ref. Without a project, the runtime's project's own credential wins
   * over a tenant-wide one of the same name. The result must not be mutated.
   */
  get(ref: string | CredentialRef): Credential | undefined;
  list(): Credential[];
  /**
   * Every resource held of one kind among options.kinds, e.g. the project's own
   * record for ResourceKind.PROJECT; for credentials the same as list(), and
   * empty for a kind not synced. The results must not be mutated.
   */
  resources<K extends KnownResourceKind>(kind: K): ResourceOfKind[K][];
  /** Calls the listener after each change is applied; returns the unsubscribe function. */
  onChange(listener: (change: SyncChange) => void): () => void;
  /**
   * Calls the listener after each change to a resource of a kind other than
   * credentials (see options.kinds), and at each reset; returns the unsubscribe function.
   */
  onResourceChange(listener: (change: ResourceChange) => void): () => void;
  /** Calls the listener for each problem (unusable cache, refused token, lost stream…). */
  onError(listener: (error: SyncError) => void): () => void;
  status(): SyncStatus;
  /** Ends the stream, stops retrying and waits for the cache write in flight. */
  close(): Promise<void>;
}

const STALE = Symbol("stale stream");

/** The kinds to ask for, each once (the server refuses repeats) and in one order; [] is the credentials-only request. */
function requestedKinds(kinds: readonly ResourceKind[] = []): ResourceKind[] {
  const known = ResourceKindSchema.values.map((v) => v.number).filter((n) => n !== ResourceKind.UNSPECIFIED);
  for (const kind of kinds) {
    if (!known.includes(kind)) {
      const names = known.map((n) => `ResourceKind.${ResourceKind[n]}`).join(", ");
      throw new CloudConfigError("kinds", `kinds: ${kind} is not a resource kind this SDK knows (${names})`);
    }
  }
  return [...new Set(kinds)].sort((a, b) => a - b);
}

function describeStreamError(err: unknown): Omit<SyncError, "at"> {
  const e = describeCloudError(err);
  return {
    code: e.codeName,
    // A refused connection carries no ErrorInfo; name it rather than say "UNKNOWN".
    reason: reasonOf(e.reason) === ErrorReason.UNKNOWN && e.code === Code.Unavailable ? "SERVER_UNAVAILABLE" : e.reason,
    message: e.message,
    // An admin must fix these (revoke, deny, suspend); the provider keeps trying at the slowest pace meanwhile.
    fatal: e.code === Code.Unauthenticated || e.code === Code.PermissionDenied,
  };
}

/** Sleeps, or returns early when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** RuntimeInfo as this SDK sends it; each field cut to the server's limit, so a long name never fails the stream. */
function runtimeInfoOf(options: SyncProviderOptions) {
  return {
    name: (options.runtimeName ?? "").slice(0, 128),
    version: (options.runtimeVersion ?? "").slice(0, 64),
    host: hostname().slice(0, 255),
    sdk: SDK_NAME,
    sdkVersion: SDK_VERSION,
    language: "typescript",
  };
}

export function createSyncProvider(options: SyncProviderOptions = {}): EngineSyncProvider {
  const env = readCloudEnv(options.env);
  const baseUrl = requireSetting("baseUrl", options.baseUrl, env.baseUrl);
  const project = requireSetting("project", options.project, env.project);
  const token = options.transport ? options.token : requireSetting("token", options.token, env.token);
  const client = createCloudClient({ baseUrl, token, protocol: options.protocol, transport: options.transport });
  const cachePath = options.cachePath ?? defaultCachePath(project);
  const fingerprint = serverFingerprint(baseUrl, token);
  const runtimeId = (options.runtimeId ?? `${hostname()}/${process.pid}`).slice(0, 128);
  const runtime = runtimeInfoOf(options);
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  const staleAfterMs = options.staleAfterMs ?? 3 * (options.heartbeatIntervalMs ?? SERVER_HEARTBEAT_INTERVAL_MS);
  const log = options.logger ?? {};
  const kinds = requestedKinds(options.kinds);
  /** What the state holds: a stream that names no kinds carries credentials. */
  const heldKinds = kinds.length > 0 ? kinds : [ResourceKind.CREDENTIAL];

  let state: SyncState = createSyncState({ project });
  let key: Buffer | undefined;
  /** False while the cache file is a newer SDK's: it is left as it is. */
  let cacheWritable = true;
  let connection: SyncConnectionState = "offline";
  let staleSince: Date | undefined = new Date();
  let lastError: SyncError | undefined;
  let started: Promise<void> | undefined;
  let streaming: Promise<void> | undefined;
  let closed = false;
  const closing = new AbortController();
  let currentStream: AbortController | undefined;
  const changeListeners = new Set<(change: SyncChange) => void>();
  const resourceListeners = new Set<(change: ResourceChange) => void>();
  const errorListeners = new Set<(error: SyncError) => void>();

  let markSynced!: () => void;
  let failSynced!: (err: Error) => void;
  const synced = new Promise<void>((resolve, reject) => {
    markSynced = resolve;
    failSynced = reject;
  });
  // Nobody has to wait for the first sync; a close before it must not be an unhandled rejection.
  synced.catch(() => {});

  function report(error: Omit<SyncError, "at">): void {
    lastError = { ...error, at: new Date() };
    (error.fatal ? log.error : log.warn)?.(`engine cloud sync: ${error.message}`, {
      code: error.code,
      reason: error.reason,
      project,
    });
    for (const listener of errorListeners) {
      try {
        listener(lastError);
      } catch (err) {
        log.error?.("an onError listener threw", { error: String(err) });
      }
    }
  }

  const writer = createCoalescedWriter(
    async () => {
      const contents: LocalCacheContents = { project, serverFingerprint: fingerprint, kinds: heldKinds, ...state.snapshot() };
      await writeLocalCache(cachePath, key!, contents);
    },
    (err) =>
      report({
        code: codeName(Code.Internal),
        reason: "CACHE_WRITE_FAILED",
        message: `could not write the local credential cache ${cachePath}: ${(err as Error).message}`,
        fatal: false,
      }),
  );

  function tell<C>(listeners: Set<(change: C) => void>, change: C, name: string): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (err) {
        log.error?.(`an ${name} listener threw`, { error: String(err) });
      }
    }
  }

  /** Credential changes to onChange, other kinds' to onResourceChange, a reset (it replaces every kind) to both. */
  function emit(change: SyncChange | ResourceChange): void {
    if (change.type !== "upsertResource" && change.type !== "deleteResource") tell(changeListeners, change, "onChange");
    if (change.type !== "upsert" && change.type !== "delete") tell(resourceListeners, change, "onResourceChange");
  }

  /** Applies one event; returns whether it was CAUGHT_UP. */
  function handle(event: WatchResponse): boolean {
    const step = state.apply(event);
    if (step.changed && cacheWritable) writer.schedule();
    for (const change of step.changes) emit(change);
    if (step.caughtUp && connection !== "connected") {
      connection = "connected";
      staleSince = undefined;
      log.info?.("engine cloud sync: caught up", { project, revision: String(state.revision) });
      markSynced();
    }
    return step.caughtUp;
  }

  /**
   * What of a cache this provider serves and resumes from. Resources of kinds
   * it does not sync are dropped: nothing would keep them current. A cache
   * lacking a kind it syncs is served but not resumed from: the changes after
   * its revision would never bring that kind's older resources, so the stream
   * starts from a full snapshot instead.
   */
  function usableCache(contents: LocalCacheContents): SyncSnapshot {
    const cachedKinds = contents.kinds ?? [ResourceKind.CREDENTIAL];
    const complete = heldKinds.every((kind) => cachedKinds.includes(kind));
    if (!complete) {
      log.info?.("engine cloud sync: the local cache lacks a resource kind asked for; serving it during a full sync", {
        project,
      });
    }
    return {
      revision: complete ? contents.revision : 0n,
      credentials: heldKinds.includes(ResourceKind.CREDENTIAL) ? contents.credentials : [],
      resources: contents.resources?.filter((r) => heldKinds.includes(resourceKeyOf(r)?.kind ?? ResourceKind.UNSPECIFIED)),
    };
  }

  async function loadCache(): Promise<void> {
    let contents: LocalCacheContents | undefined;
    try {
      contents = await readLocalCache(cachePath, key!, project);
    } catch (err) {
      if (err instanceof CacheVersionError) {
        // A newer SDK's cache (a rollback, or a runtime sharing the file) is not this one's to overwrite.
        cacheWritable = false;
        report({
          code: codeName(Code.FailedPrecondition),
          reason: err.reason,
          message: `${err.message}; meanwhile this runtime keeps what it syncs in memory only and leaves the file alone`,
          fatal: false,
        });
        return;
      }
      // The cache is only an accelerator: an unusable one is reported and replaced by a full sync.
      report({
        code: codeName(Code.DataLoss),
        reason: err instanceof CacheCorruptError ? err.reason : "CACHE_UNREADABLE",
        message: (err as Error).message,
        fatal: false,
      });
    }
    if (contents && contents.serverFingerprint !== fingerprint) {
      // Revisions of another server (or another key's tenant) mean nothing here; resuming from one could skip changes.
      log.info?.("engine cloud sync: the local cache is from another server or runtime key; starting with a full sync", {
        project,
      });
      contents = undefined;
    }
    state = createSyncState({ project, initial: contents && usableCache(contents) });
  }

  /** One Watch call; returns why it ended and whether it caught up first. */
  async function watchOnce(stream: AbortController): Promise<{ ended: Omit<SyncError, "at">; caughtUp: boolean }> {
    let caughtUp = false;
    let staleTimer: NodeJS.Timeout | undefined;
    // Heartbeats prove the stream alive; a half-open TCP connection would otherwise wait forever.
    const armStaleTimer = () => {
      clearTimeout(staleTimer);
      staleTimer = setTimeout(() => stream.abort(STALE), staleAfterMs);
    };
    try {
      armStaleTimer();
      const events = client.sync.watch(
        { project, sinceRevision: state.revision, runtimeId, runtime, kinds },
        { signal: stream.signal },
      );
      for await (const event of events) {
        armStaleTimer();
        if (handle(event)) caughtUp = true;
      }
      const ended = { code: codeName(Code.Unavailable), reason: "STREAM_ENDED", message: "the server ended the sync stream" };
      return { ended: { ...ended, fatal: false }, caughtUp };
    } catch (err) {
      if (stream.signal.reason === STALE) {
        const ended = {
          code: codeName(Code.DeadlineExceeded),
          reason: "STREAM_STALE",
          message: `no event or heartbeat for ${staleAfterMs} ms; reconnecting`,
        };
        return { ended: { ...ended, fatal: false }, caughtUp };
      }
      return { ended: describeStreamError(err), caughtUp };
    } finally {
      clearTimeout(staleTimer);
      // A snapshot cut off mid-way is dropped; the next Watch starts it again.
      state.abandonStream();
    }
  }

  async function runStream(): Promise<void> {
    let attempt = 0;
    while (!closed) {
      currentStream = new AbortController();
      connection = "connecting";
      const { ended, caughtUp } = await watchOnce(currentStream);
      if (closed) break;
      // Only a stream that caught up proves the server healthy: then the next retry starts fast again.
      if (caughtUp) attempt = 0;
      connection = "offline";
      staleSince ??= new Date();
      report(ended);
      const delay = backoffDelay(attempt++, backoff);
      log.debug?.("engine cloud sync: reconnecting", { delayMs: delay, fromRevision: String(state.revision) });
      await sleep(delay, closing.signal);
    }
    connection = "offline";
  }

  return {
    start() {
      return (started ??= (async () => {
        if (closed) throw new Error("the sync provider is closed");
        key = await loadCacheKey({
          key: options.cacheKey,
          envKey: env.credentialKey,
          keyFile: options.cacheKeyFile,
          warn: (message) => log.warn?.(message),
        });
        await loadCache();
        if (closed) return;
        streaming = runStream();
      })());
    },
    waitForSync: () => synced,
    get: (ref) => state.get(ref),
    list: () => state.list(),
    resources: (kind) => state.resources(kind),
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    onResourceChange(listener) {
      resourceListeners.add(listener);
      return () => resourceListeners.delete(listener);
    },
    onError(listener) {
      errorListeners.add(listener);
      return () => errorListeners.delete(listener);
    },
    status: () => ({ state: connection, revision: state.revision, staleSince, lastError }),
    async close() {
      if (!closed) {
        closed = true;
        closing.abort();
        currentStream?.abort();
        failSynced(new Error("the sync provider was closed before its first sync"));
      }
      await started?.catch(() => {});
      await streaming;
      await writer.flush();
      connection = "offline";
    },
  };
}
