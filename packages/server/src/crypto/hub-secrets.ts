import { open, seal } from "./aead.js";

/**
 * The connector hub's sealed values, each under the tenant's data key with
 * associated data of its own domain, so none can be opened as another (a
 * sealed client secret is not a token set, nor a credential): an OAuth app's
 * client secret bound to (tenant, app, version); a connection's token set
 * bound to (tenant, connection, generation), so an old generation replayed
 * over a new one fails to open; a connect flow's PKCE verifier bound to
 * (tenant, flow).
 */
const appAad = (tenantId: string, appId: string, version: number) => `engine-oauth-app\0${tenantId}\0${appId}\0${version}`;
const tokensAad = (tenantId: string, connectionId: string, generation: number) =>
  `engine-oauth-tokens\0${tenantId}\0${connectionId}\0${generation}`;
const verifierAad = (tenantId: string, flowId: string) => `engine-oauth-flow\0${tenantId}\0${flowId}`;

export function sealClientSecret(dataKey: Buffer, tenantId: string, appId: string, version: number, secret: string): Buffer {
  return seal(dataKey, Buffer.from(secret), appAad(tenantId, appId, version));
}
export function openClientSecret(dataKey: Buffer, tenantId: string, appId: string, version: number, sealed: Uint8Array): string {
  return open(dataKey, sealed, appAad(tenantId, appId, version)).toString("utf8");
}

/** What a connection holds sealed: the tokens themselves, never anything else. */
export interface SealedTokenSet {
  access_token: string;
  refresh_token?: string;
  token_type: string;
}
export function sealTokenSet(
  dataKey: Buffer,
  tenantId: string,
  connectionId: string,
  generation: number,
  tokens: SealedTokenSet,
): Buffer {
  return seal(dataKey, Buffer.from(JSON.stringify(tokens)), tokensAad(tenantId, connectionId, generation));
}
export function openTokenSet(
  dataKey: Buffer,
  tenantId: string,
  connectionId: string,
  generation: number,
  sealed: Uint8Array,
): SealedTokenSet {
  return JSON.parse(open(dataKey, sealed, tokensAad(tenantId, connectionId, generation)).toString("utf8")) as SealedTokenSet;
}

export function sealVerifier(dataKey: Buffer, tenantId: string, flowId: string, verifier: string): Buffer {
  return seal(dataKey, Buffer.from(verifier), verifierAad(tenantId, flowId));
}
export function openVerifier(dataKey: Buffer, tenantId: string, flowId: string, sealed: Uint8Array): string {
  return open(dataKey, sealed, verifierAad(tenantId, flowId)).toString("utf8");
}
