import type { Kysely } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { permissionDenied, unauthenticated } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import { findSessionByHash, touchSessions } from "../store/sessions.js";
import type { Database, TenantStateColumn } from "../store/schema.js";
import { findTokensByHashes, freeFormTokenHashes, touchTokens, type TokenWithTenant } from "../store/tokens.js";
import type { ChangeEvent, ChangeFeed } from "../feed/change-feed.js";
import { permissionsOfRole, permissionsOfTokenKind } from "./permissions.js";
import type { Caller } from "./caller.js";
import { hashToken, inspectToken } from "./token-format.js";

export interface CallerResolverOptions {
  db: Kysely<Database>;
  feed: ChangeFeed;
  tokenKey: Uint8Array;
  log: Logger;
  /** Longest a verdict is trusted without hearing of a change. */
  cacheTtlMs: number;
  /** A session unused this long ends (the window slides on use). */
  sessionIdleMs: number;
  now?: () => number;
  /** Bounds memory: least recently verified entries go first. */
  maxEntries?: number;
}

export interface CallerResolver {
  /** Resolves the caller of a bearer token (API token or session), or throws UNAUTHENTICATED / PERMISSION_DENIED with a reason. */
  verify(bearer: string | undefined): Promise<Caller>;
  /** Database lookups made so far (for tests and benchmarks of the cache). */
  readonly lookups: number;
  /** Writes the batch of recent uses (last_used_at, session idle windows) now, instead of at the next interval. */
  flushLastUsed(): Promise<void>;
  close(): Promise<void>;
}

/** What verification needs to know of a token or session, however it was stored. */
interface CredentialRecord {
  kind: "token" | "session";
  caller: Caller;
  tenantState: TenantStateColumn;
  revokedAt: Date | null;
  expiresAt: Date | null;
  idleExpiresAt?: Date;
  userDisabled: boolean;
  /** A session whose membership was removed. */
  notMember: boolean;
}

interface Entry {
  record: CredentialRecord | undefined;
  fetchedAt: number;
}

const LAST_USED_FLUSH_MS = 30_000;
const FREE_FORM_RELOAD_MS = 5_000;

async function lookupRecord(
  db: Kysely<Database>,
  findToken: (key: string, hash: Buffer) => Promise<TokenWithTenant | undefined>,
  key: string,
  hash: Buffer,
  session: boolean,
): Promise<CredentialRecord | undefined> {
  if (session) {
    const s = await findSessionByHash(db, hash);
    if (!s) return undefined;
    return {
      kind: "session",
      caller: {
        principal: { kind: "user", role: s.role ?? undefined, authMethod: "password" },
        principalId: s.user_id,
        credentialId: s.id,
        displayName: s.email,
        homeTenantId: s.tenant_id,
        homeTenantSlug: s.tenant_slug,
        // A platform administrator person, in any session of theirs (the operator tenant's or another).
        platformAdmin: s.user_platform_admin,
        permissions: s.role ? permissionsOfRole(s.role) : new Set(),
        projects: [],
        expiresAt: s.expires_at,
      },
      tenantState: s.tenant_state,
      revokedAt: s.revoked_at,
      expiresAt: s.expires_at,
      idleExpiresAt: s.idle_expires_at,
      userDisabled: s.user_disabled !== null,
      notMember: s.role === null,
    };
  }
  const t = await findToken(key, hash);
  if (!t) return undefined;
  return {
    kind: "token",
    caller: {
      principal: { kind: "token", tokenKind: t.kind },
      principalId: t.id,
      credentialId: t.id,
      displayName: t.label,
      homeTenantId: t.tenant_id,
      homeTenantSlug: t.tenant_slug,
      platformAdmin: t.kind === "platform_admin",
      permissions: permissionsOfTokenKind(t.kind),
      projects: t.projects,
      expiresAt: t.expires_at ?? undefined,
    },
    tenantState: t.tenant_state,
    revokedAt: t.revoked_at,
    expiresAt: t.expires_at,
    userDisabled: false,
    notMember: false,
  };
}

/** Whether a change may alter a cached verdict. */
function affects(event: ChangeEvent, r: CredentialRecord): boolean {
  switch (event.type) {
    case "token":
      return r.caller.credentialId === event.tokenId;
    case "session":
      return r.caller.credentialId === event.sessionId;
    case "user":
      return r.kind === "session" && r.caller.principalId === event.userId;
    case "membership":
      return r.kind === "session" && r.caller.principalId === event.userId && r.caller.homeTenantId === event.tenantId;
    case "tenant":
      return r.caller.homeTenantId === event.tenantId;
    default:
      return false;
  }
}

/**
 * Resolves a presented bearer (an API token or a person's session token) to
 * its Caller. Verification costs one HMAC and a map lookup when warm, for API tokens and
 * people's sessions alike. Correctness rests on the change feed: every
 * revocation, removal, disabling or suspension evicts the cached verdict on
 * every process as it is announced, and while the feed is disconnected
 * nothing is cached at all. `cacheTtlMs` bounds the damage of a notification
 * lost to a crash between commit and send.
 */
export async function createCallerResolver(opts: CallerResolverOptions): Promise<CallerResolver> {
  const now = opts.now ?? Date.now;
  const maxEntries = opts.maxEntries ?? 100_000;
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, { epoch: number; entry: Promise<Entry> }>();
  let cacheEnabled = true;
  let lookups = 0;
  // Bumped by every change that may alter a verdict. A lookup that started
  // before a change may have read the row as it was: its answer serves the
  // request that asked, but is neither cached nor shared with later requests.
  let epoch = 0;
  let freeForm = new Set<string>();
  let freeFormReload: Promise<void> | undefined;
  let freeFormLoadedAt = 0;
  const usedTokens = new Set<string>();
  const usedSessions = new Set<string>();

  const reloadFreeForm = () =>
    (freeFormReload ??= freeFormTokenHashes(opts.db)
      .then((hashes) => {
        freeForm = new Set(hashes.map((h) => Buffer.from(h).toString("base64")));
        freeFormLoadedAt = now();
      })
      .catch((err) => opts.log.error("could not load seeded tokens", { err: String(err) }))
      .finally(() => (freeFormReload = undefined)));
  await reloadFreeForm();

  const unsubscribe = opts.feed.subscribe((event) => {
    if (event.type === "reset") {
      epoch++;
      cache.clear();
      cacheEnabled = event.connected;
      void reloadFreeForm();
      return;
    }
    if (event.type === "credential" || event.type === "project") return;
    epoch++;
    // Rights change rarely next to requests: a scan is cheaper than keeping indexes current.
    for (const [key, entry] of cache) if (entry.record && affects(event, entry.record)) cache.delete(key);
  });

  /**
   * A seeded token unknown here may have been seeded by a server started
   * since (the recovery path): look again, at most every few seconds, so a
   * spray of made-up strings still costs the database next to nothing.
   */
  const knownFreeForm = async (key: string) => {
    if (freeForm.has(key)) return true;
    if (now() - freeFormLoadedAt > FREE_FORM_RELOAD_MS) await reloadFreeForm();
    return freeForm.has(key);
  };

  const remember = (key: string, entry: Entry, startedAt: number) => {
    if (!cacheEnabled || startedAt !== epoch) return;
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(key, entry);
  };

  /**
   * Token misses arriving in one event-loop turn share one query: under a
   * burst of new tokens (a fleet restarting) the database sees a handful of
   * IN lookups instead of one round trip each.
   */
  type Waiter = { resolve: (row: TokenWithTenant | undefined) => void; reject: (err: unknown) => void };
  let pendingTokens: Map<string, { hash: Buffer; waiters: Waiter[] }> | undefined;
  const flushTokenLookups = () => {
    const batch = pendingTokens!;
    pendingTokens = undefined;
    findTokensByHashes(
      opts.db,
      [...batch.values()].map((b) => b.hash),
    ).then(
      (found) => {
        for (const [key, b] of batch) for (const w of b.waiters) w.resolve(found.get(key));
      },
      (err) => {
        for (const b of batch.values()) for (const w of b.waiters) w.reject(err);
      },
    );
  };
  const findToken = (key: string, hash: Buffer) =>
    new Promise<TokenWithTenant | undefined>((resolve, reject) => {
      if (!pendingTokens) {
        pendingTokens = new Map();
        setImmediate(flushTokenLookups);
      }
      const slot = pendingTokens.get(key) ?? { hash, waiters: [] };
      slot.waiters.push({ resolve, reject });
      pendingTokens.set(key, slot);
    });

  // One database lookup per distinct token at a time, however many requests carry it.
  const lookup = (key: string, hash: Buffer, session: boolean): Promise<Entry> => {
    const shared = inflight.get(key);
    if (shared?.epoch === epoch) return shared.entry;
    lookups++;
    const startedAt = epoch;
    const entry = lookupRecord(opts.db, findToken, key, hash, session)
      .then((record) => {
        const e = { record, fetchedAt: now() };
        remember(key, e, startedAt);
        return e;
      })
      .finally(() => {
        if (inflight.get(key)?.entry === entry) inflight.delete(key);
      });
    inflight.set(key, { epoch: startedAt, entry });
    return entry;
  };

  const flushLastUsed = async () => {
    const tokens = [...usedTokens];
    const sessions = [...usedSessions];
    usedTokens.clear();
    usedSessions.clear();
    await Promise.all([touchTokens(opts.db, tokens), touchSessions(opts.db, sessions, opts.sessionIdleMs)]).catch((err) =>
      opts.log.warn("could not record token use", { err: String(err) }),
    );
  };
  const flushTimer = setInterval(flushLastUsed, LAST_USED_FLUSH_MS);
  flushTimer.unref();

  const invalid = () => unauthenticated(ErrorReason.TOKEN_INVALID, "the token is not recognised");

  return {
    get lookups() {
      return lookups;
    },
    flushLastUsed,
    async verify(bearer) {
      if (!bearer) {
        throw unauthenticated(ErrorReason.TOKEN_MISSING, 'no credential: send the header "authorization: Bearer <token>"');
      }
      const hash = hashToken(bearer, opts.tokenKey);
      const key = hash.toString("base64");
      let entry = cache.get(key);
      if (entry) {
        // Refresh recency for the LRU order.
        cache.delete(key);
        cache.set(key, entry);
      }
      // Only a token that passed the checks below is ever cached, so a fresh entry skips them (half of a warm check).
      if (!entry || now() - entry.fetchedAt > opts.cacheTtlMs) {
        const shape = inspectToken(bearer, opts.tokenKey);
        if (shape.kind === "malformed") throw unauthenticated(ErrorReason.TOKEN_INVALID, `the token is malformed: ${shape.why}`);
        if (shape.kind === "formatted" && shape.tokenKind === "invitation") {
          throw unauthenticated(
            ErrorReason.TOKEN_INVALID,
            "an invitation code is not a credential; accept the invitation to get one",
            {
              credential_kind: "invitation_code",
            },
          );
        }
        if (shape.kind === "free_form" && !(await knownFreeForm(key))) throw invalid();
        entry = await lookup(key, hash, shape.kind === "formatted" && shape.tokenKind === "session");
      }
      const r = entry.record;
      if (!r) throw invalid();
      const t = now();
      const noun = r.kind === "session" ? "session" : "token";
      const remedy = r.kind === "session" ? "sign in again" : "ask an administrator for a new one";
      // The cause comes first: a removed or disabled person's sessions are also revoked, and they should hear why.
      if (r.userDisabled)
        throw unauthenticated(ErrorReason.USER_DISABLED, "this account is disabled; contact the platform operator");
      if (r.notMember) throw permissionDenied(ErrorReason.MEMBERSHIP_REMOVED, "you are no longer a member of this tenant");
      if (r.revokedAt)
        throw unauthenticated(
          r.kind === "session" ? ErrorReason.SESSION_REVOKED : ErrorReason.TOKEN_REVOKED,
          `the ${noun} was revoked; ${remedy}`,
        );
      if ((r.expiresAt && r.expiresAt.getTime() <= t) || (r.idleExpiresAt && r.idleExpiresAt.getTime() <= t)) {
        throw unauthenticated(
          r.kind === "session" ? ErrorReason.SESSION_EXPIRED : ErrorReason.TOKEN_EXPIRED,
          `the ${noun} has expired; ${remedy}`,
        );
      }
      if (r.tenantState === "deleted") throw unauthenticated(ErrorReason.TENANT_DELETED, `the ${noun}'s tenant was deleted`);
      if (r.tenantState === "suspended") {
        throw permissionDenied(ErrorReason.TENANT_SUSPENDED, `the ${noun}'s tenant is suspended; contact the platform operator`);
      }
      (r.kind === "session" ? usedSessions : usedTokens).add(r.caller.credentialId);
      return r.caller;
    },
    async close() {
      unsubscribe();
      clearInterval(flushTimer);
      await flushLastUsed();
    },
  };
}
