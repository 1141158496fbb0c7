import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { OAuthProvider, StartConnectRequest } from "@engine-cloud/api";
import { DEFAULT_ALIAS } from "@engine-cloud/api";
import type { Kysely } from "kysely";
import { openTokenSet, openVerifier, sealTokenSet, sealVerifier } from "../crypto/hub-secrets.js";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import { DomainError, invalidArgument } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import type { LimitsOf } from "../limits/tenant-limits.js";
import { countLiveConnections, findConnectionOfAccount, findLiveConnectionNamed, writeGrant } from "../store/connections.js";
import { claimOAuthFlowByState, finishOAuthFlow, insertOAuthFlow, type OAuthFlowRow } from "../store/oauth-flows.js";
import type { Database } from "../store/schema.js";
import { enterTenant, systemScope, withPlatform, withTenant, type TenantScope } from "../store/with-tenant.js";
import type { CredentialVault } from "../vault/credentials.js";
import { publishConnectionCredential, withdrawConnectionCredential } from "./connection-credential.js";
import { providerFor, resolveOAuthApp } from "./oauth-apps.js";
import { revokeGrantAtProvider } from "./revoke-grant.js";
import type { ProviderCatalog, ProviderData } from "./provider-catalog.js";
import { urlProblem, type OutboundPolicy } from "./outbound-http.js";
import { refreshDueAt } from "./refresh-due.js";
import type { RefreshEngineConfig } from "./refresh-engine.js";
import { requestTokens, TokenEndpointError, tokenSetOf } from "./token-endpoint.js";
import { fillProviderUrl } from "./url-template.js";
import { actorLabel } from "../store/actor.js";

/** A connect flow accepts its callback this long (the issue's 10 minutes). */
export const CONNECT_FLOW_TTL_MS = 10 * 60_000;

/** The hub's settings (config.ts reads them). */
export interface HubConfig {
  /**
   * How the hub calls providers' token endpoints. allowLoopback is for tests only
   * (ENGINE_CLOUD_HUB_ALLOW_LOOPBACK=1; default off): loopback addresses and plain http to them.
   */
  outbound: OutboundPolicy;
  /** How long a connect flow accepts its callback (ENGINE_CLOUD_HUB_CONNECT_FLOW_TTL_MS; default 10 minutes). */
  connectFlowTtlMs: number;
  /** How long an expired connect flow is kept before the purge removes it (ENGINE_CLOUD_HUB_FLOW_RETENTION_MS; default 1 h). */
  flowRetentionMs: number;
  /** The refresh engine (hub/refresh-engine.ts). */
  refresh: RefreshEngineConfig;
  /**
   * Providers the operator adds to the catalog (hub/provider-catalog.ts): set
   * where the config is built in code (no environment variable yet); tests add
   * their loopback authorization server this way to share an app platform-wide.
   */
  extraProviders: ProviderData[];
}
/** The callback route's path, on the API's own port. */
export const CALLBACK_PATH = "/oauth/callback";

const CALLBACK_JOB = "system:oauth-callback" as const;

export interface ConnectFlowDeps {
  db: Kysely<Database>;
  keys: TenantKeys;
  catalog: ProviderCatalog;
  vault: CredentialVault;
  log: Logger;
  outbound: OutboundPolicy;
  flowTtlMs: number;
  /** The longest a connection goes unrefreshed (the refresh engine's keepAliveMs): its first schedule too. */
  keepAliveMs: number;
  /** The tenant's limits: tenant_connections bounds its live connections. */
  limitsOf: LimitsOf;
  /** The server's public base URL (the configured one, else where it listens). */
  publicUrl(): string;
}

/** What the callback route shows the person in the browser: a status and two lines, never a stack or a token. */
export interface CallbackOutcome {
  status: number;
  title: string;
  detail: string;
}

const stateHashOf = (state: string) => createHash("sha256").update(state).digest();
const base64url = (b: Buffer) => b.toString("base64url");

/** RFC 9207: an `iss` in the callback must name the server the flow was sent to. */
function expectedIssuer(provider: OAuthProvider, flow: OAuthFlowRow): string {
  if (provider.issuer) return provider.issuer;
  return new URL(fillProviderUrl(provider.authorizeUrl, provider, flow.url_parameters)).origin;
}

export function createConnectFlows(deps: ConnectFlowDeps) {
  const { db, keys, log } = deps;

  async function start(scope: TenantScope, req: StartConnectRequest, signal?: AbortSignal) {
    const tenantId = scope.tenantId;
    const app = await resolveOAuthApp(db, keys, deps.catalog, tenantId, req.provider);
    const provider = app.provider;
    const authorize = new URL(fillProviderUrl(provider.authorizeUrl, provider, req.urlParameters));
    const tokenUrl = new URL(fillProviderUrl(provider.tokenUrl, provider, req.urlParameters));
    // Checked now for a clear answer; the token call checks again, with the addresses it resolves.
    for (const [name, url] of [
      ["authorize_url", authorize],
      ["token_url", tokenUrl],
    ] as const) {
      const problem = urlProblem(url, deps.outbound);
      if (problem) throw invalidArgument(name, `${provider.id}'s ${name} is refused: ${problem}`);
    }
    const state = base64url(randomBytes(32));
    // RFC 7636: 32 random octets make a 43-character verifier.
    const verifier = provider.pkce ? base64url(randomBytes(32)) : undefined;
    const redirectUri = `${deps.publicUrl()}${CALLBACK_PATH}`;
    const flowId = randomUUID();
    const flow = await withTenant(
      db,
      scope,
      async ({ tx, audit }) => {
        audit.record({
          action: "connection.start",
          target: `connect_flow:${flowId}`,
          detail: { provider: provider.id, project: req.project, alias: req.alias || DEFAULT_ALIAS },
        });
        return insertOAuthFlow(tx, tenantId, {
          id: flowId,
          stateHash: stateHashOf(state),
          provider: provider.id,
          project: req.project,
          alias: req.alias || DEFAULT_ALIAS,
          redirectUri,
          sealedVerifier: verifier ? sealVerifier(await keys.dataKey(tx, tenantId), tenantId, flowId, verifier) : null,
          urlParameters: req.urlParameters,
          actor: actorLabel(scope.actor),
          ttlMs: deps.flowTtlMs,
        });
      },
      { signal },
    );
    const scopes = req.scopes.length > 0 ? req.scopes : app.scopes.length > 0 ? app.scopes : provider.defaultScopes;
    for (const [k, v] of Object.entries(provider.authorizeParams)) authorize.searchParams.set(k, v);
    authorize.searchParams.set("response_type", "code");
    authorize.searchParams.set("client_id", app.client.clientId);
    authorize.searchParams.set("redirect_uri", redirectUri);
    if (scopes.length > 0) authorize.searchParams.set("scope", scopes.join(provider.scopeSeparator || " "));
    authorize.searchParams.set("state", state);
    if (verifier) {
      authorize.searchParams.set("code_challenge", base64url(createHash("sha256").update(verifier).digest()));
      authorize.searchParams.set("code_challenge_method", "S256");
    }
    return { authorizationUrl: authorize.toString(), flow };
  }

  const fail = (flow: OAuthFlowRow, error: string, description: string) =>
    withTenant(db, systemScope(flow.tenant_id, CALLBACK_JOB), ({ tx }) =>
      finishOAuthFlow(tx, flow.tenant_id, flow.id, { status: "failed", error, description }),
    );

  /**
   * The browser's return. The flow is claimed (pending → exchanging) and
   * committed before the code is exchanged, under the row's lock: a reloaded
   * or duplicated callback finds it claimed and never exchanges the code a
   * second time (a strict server would revoke the whole grant for a replayed
   * code). The token call runs outside any transaction.
   */
  async function complete(query: URLSearchParams): Promise<CallbackOutcome> {
    const state = query.get("state");
    if (!state)
      return { status: 400, title: "Connection failed", detail: "The link has no state parameter. Start the connection again." };
    const claim = await withPlatform(db, { actor: { kind: "system", job: CALLBACK_JOB } }, async ({ tx }) => {
      const flow = await claimOAuthFlowByState(tx, stateHashOf(state));
      if (!flow) return { kind: "unknown" as const };
      if (flow.status !== "pending") return { kind: "used" as const, flow };
      if (flow.expired) return { kind: "expired" as const, flow };
      await enterTenant(tx, flow.tenant_id);
      const provider = await providerFor(deps.catalog, tx, flow.tenant_id, flow.provider);
      const iss = query.get("iss");
      const refusal =
        iss !== null && iss !== expectedIssuer(provider, flow)
          ? { error: "issuer_mismatch", description: "the authorization response came from an unexpected issuer (RFC 9207)" }
          : query.get("error")
            ? { error: query.get("error")!.slice(0, 100), description: (query.get("error_description") ?? "").slice(0, 500) }
            : !query.get("code")
              ? { error: "invalid_response", description: "the provider sent neither a code nor an error" }
              : undefined;
      if (refusal) {
        await finishOAuthFlow(tx, flow.tenant_id, flow.id, { status: "failed", ...refusal });
        return { kind: "refused" as const, flow, ...refusal };
      }
      await finishOAuthFlow(tx, flow.tenant_id, flow.id, { status: "exchanging" });
      const verifier = flow.sealed_verifier
        ? openVerifier(await keys.dataKey(tx, flow.tenant_id), flow.tenant_id, flow.id, flow.sealed_verifier)
        : undefined;
      return { kind: "claimed" as const, flow, provider, verifier, code: query.get("code")! };
    });

    switch (claim.kind) {
      case "unknown":
        return { status: 400, title: "Connection failed", detail: "This link is unknown. Start the connection again." };
      case "used":
        return {
          status: 409,
          title: claim.flow.status === "completed" ? "Already connected" : "Link already used",
          detail:
            claim.flow.status === "completed"
              ? `${claim.flow.provider} is connected. You can close this window.`
              : "This link was already used. Start the connection again if it did not complete.",
        };
      case "expired":
        return { status: 410, title: "Link expired", detail: "This link has expired. Start the connection again." };
      case "refused":
        log.info("connect flow refused", {
          tenant: claim.flow.tenant_id,
          flow: claim.flow.id,
          provider: claim.flow.provider,
          error: claim.error,
        });
        return {
          status: claim.error === "access_denied" ? 403 : 400,
          title: claim.error === "access_denied" ? "Access was denied" : "Connection failed",
          detail:
            claim.error === "access_denied"
              ? `${claim.flow.provider} did not grant access. Start the connection again to retry.`
              : `${claim.flow.provider} answered ${claim.error}${claim.description ? `: ${claim.description}` : ""}.`,
        };
      case "claimed":
        return exchange(claim.flow, claim.provider, claim.code, claim.verifier);
    }
  }

  async function exchange(
    flow: OAuthFlowRow,
    provider: OAuthProvider,
    code: string,
    verifier: string | undefined,
  ): Promise<CallbackOutcome> {
    try {
      const app = await resolveOAuthApp(db, keys, deps.catalog, flow.tenant_id, flow.provider);
      const tokenUrl = fillProviderUrl(provider.tokenUrl, provider, flow.url_parameters);
      const grant: Record<string, string> = { grant_type: "authorization_code", code, redirect_uri: flow.redirect_uri };
      if (verifier) grant.code_verifier = verifier;
      const tokens = tokenSetOf(provider, await requestTokens(tokenUrl, provider, app.client, grant, deps.outbound));
      const account = tokens.externalAccount ?? `unidentified:${flow.project}/${flow.alias}`;
      // Read before the transaction: the tenant directory must not wait for a connection this call holds.
      const quota = (await deps.limitsOf(flow.tenant_id)).tenant_connections;
      const outcome = await withTenant(db, systemScope(flow.tenant_id, CALLBACK_JOB), async (t) => {
        const { tx, audit } = t;
        const existing = await findConnectionOfAccount(tx, flow.tenant_id, flow.provider, account);
        const taken = await findLiveConnectionNamed(tx, flow.tenant_id, flow);
        const why =
          taken && taken.id !== existing?.id
            ? {
                error: "alias_taken",
                description: `another ${flow.provider} account is connected as "${flow.alias}"; connect this one with another alias`,
              }
            : (!existing || existing.status === "disconnected") && (await countLiveConnections(tx, flow.tenant_id)) >= quota
              ? {
                  error: "connection_quota",
                  description: `this tenant may hold ${quota} connections (tenant_connections); disconnect one first`,
                }
              : undefined;
        if (why) {
          await finishOAuthFlow(tx, flow.tenant_id, flow.id, { status: "failed", ...why });
          return { refusal: why };
        }
        const id = existing?.id ?? randomUUID();
        const generation = (existing?.generation ?? 0) + 1;
        audit.record({
          action: "connection.connect",
          target: `connection:${id}`,
          detail: { provider: flow.provider, project: flow.project, alias: flow.alias, flow: flow.id, generation },
        });
        const dataKey = await keys.dataKey(tx, flow.tenant_id);
        // The grant this reconnect replaces, to revoke once the new one is committed (one live grant per account).
        const replaced =
          existing?.sealed_tokens && existing.status !== "disconnected"
            ? openTokenSet(dataKey, flow.tenant_id, existing.id, existing.generation, existing.sealed_tokens)
            : undefined;
        const sealed = { access_token: tokens.accessToken, refresh_token: tokens.refreshToken, token_type: tokens.tokenType };
        const row = await writeGrant(
          tx,
          flow.tenant_id,
          {
            id,
            provider: flow.provider,
            project: flow.project,
            alias: flow.alias,
            externalAccount: account,
            scopes: tokens.scopes ?? [],
            metadata: tokens.metadata,
            urlParameters: flow.url_parameters,
            sealedTokens: sealTokenSet(dataKey, flow.tenant_id, id, generation, sealed),
            sharedApp: app.shared,
            accessExpiresAt: tokens.expiresAt,
            nextRefreshAt: tokens.refreshToken ? refreshDueAt(tokens.expiresAt, tokens.lifetimeSeconds, deps.keepAliveMs) : null,
            generation,
            // The connection is the initiating person's or token's, not the browser's.
            actor: flow.created_by,
          },
          existing !== undefined,
        );
        // Reconnected under another name: the credential of the old name goes (a tombstone), the new one comes.
        if (existing && (existing.project !== row.project || existing.alias !== row.alias))
          await withdrawConnectionCredential(deps.vault, t, existing);
        // Runtimes receive the access token in the same commit (hub/connection-credential.ts).
        await publishConnectionCredential(deps.vault, t, row, sealed, deps.publicUrl());
        await finishOAuthFlow(tx, flow.tenant_id, flow.id, { status: "completed", connectionId: id });
        return { row, replaced };
      });
      if (!("row" in outcome))
        return { status: 409, title: "Not connected", detail: `The connection was not stored: ${outcome.refusal.description}.` };
      const old = outcome.replaced;
      if (
        old?.refresh_token &&
        old.refresh_token !== tokens.refreshToken &&
        provider.revocationUrl &&
        !provider.reconnectKeepsOldGrant
      )
        await revokeGrantAtProvider(deps, outcome.row, provider, { ...old, refresh_token: old.refresh_token });
      log.info("connected", { tenant: flow.tenant_id, flow: flow.id, provider: flow.provider });
      return { status: 200, title: "Connected", detail: `${flow.provider} is connected. You can close this window.` };
    } catch (err) {
      const known = err instanceof TokenEndpointError;
      const error = known ? err.error : "internal";
      const description = known ? err.description : "the connection could not be stored";
      // The error's message names the failure class and the provider's words, never a token or the code.
      log.warn("connect flow failed", {
        tenant: flow.tenant_id,
        flow: flow.id,
        provider: flow.provider,
        error,
        ...(known ? {} : { cause: String(err) }),
      });
      await fail(flow, known ? "exchange_failed" : "internal", `${error}: ${description}`).catch(() => {});
      // The audit log or the database refused the connection's transaction (fail closed): nothing was stored.
      if (err instanceof DomainError && err.kind === "unavailable")
        return {
          status: 503,
          title: "Not connected",
          detail: `The server could not store the connection just now (${err.message}). Start the connection again in a moment.`,
        };
      return {
        status: 502,
        title: "Connection failed",
        detail: `The code could not be exchanged at ${flow.provider} (${error}). Start the connection again.`,
      };
    }
  }

  return { start, complete };
}

export type ConnectFlows = ReturnType<typeof createConnectFlows>;
