import type { Kysely } from "kysely";
import { permissionDenied, unauthenticated } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import type { Database } from "../store/schema.js";
import { findTokenByHash, freeFormTokenHashes, touchTokens, type TokenWithTenant } from "../store/tokens.js";
import type { ChangeFeed } from "../sync/change-feed.js";
import { permissionsOfTokenKind } from "../tenancy/permissions.js";
import type { Caller } from "./caller.js";
import { hashToken, inspectToken } from "./token-format.js";

export interface TokenVerifierOptions {
  db: Kysely<Database>;
  feed: ChangeFeed;
  tokenKey: Uint8Array;
  log: Logger;
  /** Longest a verdict is trusted without hearing of a change. */
  cacheTtlMs: number;
  now?: () => number;
  /** Bounds memory: least recently verified entries go first. */
  maxEntries?: number;
}

export interface TokenVerifier {
  /** Resolves the caller of a bearer token, or throws UNAUTHENTICATED / PERMISSION_DENIED with a reason. */
  verify(bearer: string | undefined): Promise<Caller>;
  /** Database lookups made so far (for tests and benchmarks of the cache). */
  readonly lookups: number;
  /** Writes the batch of recent uses to last_used_at now, instead of at the next interval. */
  flushLastUsed(): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  row: TokenWithTenant | undefined;
  fetchedAt: number;
}

const LAST_USED_FLUSH_MS = 30_000;

/**
 * Verification costs one HMAC and a map lookup when warm. Correctness rests on
 * the change feed: every revocation, tenant suspension or deletion evicts the
 * cached verdict on every process as it is announced, and while the feed is
 * disconnected nothing is cached at all. `cacheTtlMs` bounds the damage of a
 * notification lost to a crash between commit and send.
 */
export async function createTokenVerifier(opts: TokenVerifierOptions): Promise<TokenVerifier> {
  const now = opts.now ?? Date.now;
  const maxEntries = opts.maxEntries ?? 100_000;
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry>>();
  const byTokenId = new Map<string, string>();
  let cacheEnabled = true;
  let lookups = 0;
  let freeForm = new Set<string>();
  let freeFormReload: Promise<void> | undefined;
  const recentlyUsed = new Set<string>();

  const reloadFreeForm = () =>
    (freeFormReload ??= freeFormTokenHashes(opts.db)
      .then((hashes) => {
        freeForm = new Set(hashes.map((h) => Buffer.from(h).toString("base64")));
      })
      .catch((err) => opts.log.error("could not load seeded tokens", { err: String(err) }))
      .finally(() => (freeFormReload = undefined)));
  await reloadFreeForm();

  const evictToken = (tokenId: string) => {
    const key = byTokenId.get(tokenId);
    if (key) cache.delete(key);
    byTokenId.delete(tokenId);
  };
  const unsubscribe = opts.feed.subscribe((event) => {
    switch (event.type) {
      case "token":
        if (!byTokenId.has(event.tokenId)) void reloadFreeForm(); // perhaps a token seeded by another process
        evictToken(event.tokenId);
        break;
      case "tenant":
        for (const [key, entry] of cache) if (entry.row?.tenant_id === event.tenantId) cache.delete(key);
        break;
      case "reset":
        cache.clear();
        byTokenId.clear();
        cacheEnabled = event.connected;
        void reloadFreeForm();
        break;
      case "project":
      case "credential":
        break;
    }
  });

  const remember = (key: string, entry: Entry) => {
    if (!cacheEnabled) return;
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(key, entry);
    if (entry.row) byTokenId.set(entry.row.id, key);
  };

  // One database lookup per distinct token at a time, however many requests carry it.
  const lookup = (key: string, hash: Buffer): Promise<Entry> => {
    let p = inflight.get(key);
    if (!p) {
      lookups++;
      p = findTokenByHash(opts.db, hash)
        .then((row) => {
          const entry = { row, fetchedAt: now() };
          remember(key, entry);
          return entry;
        })
        .finally(() => inflight.delete(key));
      inflight.set(key, p);
    }
    return p;
  };

  const flushLastUsed = async () => {
    const ids = [...recentlyUsed];
    recentlyUsed.clear();
    await touchTokens(opts.db, ids).catch((err) => opts.log.warn("could not record token use", { err: String(err) }));
  };
  const flushTimer = setInterval(flushLastUsed, LAST_USED_FLUSH_MS);
  flushTimer.unref();

  return {
    get lookups() {
      return lookups;
    },
    flushLastUsed,
    async verify(bearer) {
      if (!bearer) {
        throw unauthenticated("TOKEN_MISSING", 'no credential: send the header "authorization: Bearer <token>"');
      }
      const shape = inspectToken(bearer, opts.tokenKey);
      if (shape.kind === "malformed") throw unauthenticated("TOKEN_INVALID", `the token is malformed: ${shape.why}`);
      const hash = hashToken(bearer, opts.tokenKey);
      const key = hash.toString("base64");
      if (shape.kind === "free_form" && !freeForm.has(key)) {
        throw unauthenticated("TOKEN_INVALID", "the token is not recognised");
      }
      let entry = cache.get(key);
      if (entry) {
        // Refresh recency for the LRU order.
        cache.delete(key);
        cache.set(key, entry);
      }
      if (!entry || now() - entry.fetchedAt > opts.cacheTtlMs) entry = await lookup(key, hash);
      const row = entry.row;
      if (!row) throw unauthenticated("TOKEN_INVALID", "the token is not recognised");
      if (row.revoked_at) throw unauthenticated("TOKEN_REVOKED", "the token was revoked; ask an administrator for a new one");
      if (row.expires_at && row.expires_at.getTime() <= now()) {
        throw unauthenticated("TOKEN_EXPIRED", "the token has expired; ask an administrator for a new one");
      }
      if (row.tenant_state === "deleted") throw unauthenticated("TENANT_DELETED", "the token's tenant was deleted");
      if (row.tenant_state === "suspended") {
        throw permissionDenied("TENANT_SUSPENDED", "the token's tenant is suspended; contact the platform operator");
      }
      recentlyUsed.add(row.id);
      return {
        principalType: "token",
        principalId: row.id,
        displayName: row.label,
        homeTenantId: row.tenant_id,
        homeTenantSlug: row.tenant_slug,
        tokenKind: row.kind,
        platformAdmin: row.kind === "platform_admin",
        permissions: permissionsOfTokenKind(row.kind),
        projects: row.projects,
        expiresAt: row.expires_at ?? undefined,
      };
    },
    async close() {
      unsubscribe();
      clearInterval(flushTimer);
      await flushLastUsed();
    },
  };
}
