import type { SealedTokenSet } from "../crypto/hub-secrets.js";
import type { ConnectionRow } from "../store/connections.js";
import { findLiveCredential } from "../store/credentials.js";
import type { ConnectionLinkColumn } from "../store/schema.js";
import type { TenantTx } from "../store/with-tenant.js";
import { systemAccess, type CredentialVault } from "../vault/credentials.js";

/** Where a person reconnects an account (the console's page; ENGINE_CLOUD_PUBLIC_URL, else where the server listens). */
export const reauthorizeUrlOf = (publicUrl: string, connectionId: string) => `${publicUrl}/console/connections/${connectionId}`;

/**
 * What runtimes receive of a connection: a credential of the connection's
 * name (project, provider, alias), type oauth2, with the access token and its
 * expiry, the account, scopes and metadata, and the connection's status
 * link. Never the refresh token: it is not even handed in here. Written in
 * the transaction of every token-set commit and status change, through the
 * vault, so it takes the tenant's next revision like any other change.
 */
export async function publishConnectionCredential(
  vault: CredentialVault,
  t: TenantTx,
  row: ConnectionRow,
  tokens: Pick<SealedTokenSet, "access_token" | "token_type">,
  publicUrl: string,
): Promise<void> {
  const link: ConnectionLinkColumn = {
    id: row.id,
    status: row.status,
    status_reason: row.status_reason,
    status_description: row.status_description,
    reauthorize_url: reauthorizeUrlOf(publicUrl, row.id),
  };
  await vault.put(
    t,
    {
      project: row.project,
      provider: row.provider,
      alias: row.alias,
      type: "oauth2",
      identity: { account: row.external_account },
      metadata: { ...row.metadata, token_type: tokens.token_type, generation: String(row.generation) },
      scopes: row.scopes,
      secrets: { access_token: tokens.access_token },
      keyInfo: { access_token: row.access_expires_at ? { expires_at: row.access_expires_at.toISOString() } : {} },
      autoRefresh: true,
      connection: link,
    },
    // The connection already counted against tenant_connections.
    { access: systemAccess, quota: Number.MAX_SAFE_INTEGER },
  );
}

/** Removes the connection's credential (a tombstone on the stream), if it has one. */
export async function withdrawConnectionCredential(vault: CredentialVault, t: TenantTx, row: ConnectionRow): Promise<void> {
  const live = await findLiveCredential(t.tx, t.tenantId, { project: row.project, provider: row.provider, alias: row.alias });
  if (live?.connection_link?.id !== row.id) return;
  await vault.remove(t, live.id, { access: systemAccess, byHub: true });
}
