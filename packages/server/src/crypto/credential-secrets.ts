import { open, seal } from "./aead.js";

export type SecretValues = Record<string, string>;

/**
 * Binds sealed secrets to their tenant, credential and version: a row copied
 * to another tenant or credential, or an old version replayed over a new
 * one, fails to open.
 */
const aadOf = (tenantId: string, credentialId: string, version: number) =>
  `engine-credential\0${tenantId}\0${credentialId}\0${version}`;

export function sealSecrets(
  dataKey: Buffer,
  tenantId: string,
  credentialId: string,
  version: number,
  values: SecretValues,
): Buffer {
  return seal(dataKey, Buffer.from(JSON.stringify(values)), aadOf(tenantId, credentialId, version));
}

export function openSecrets(
  dataKey: Buffer,
  tenantId: string,
  credentialId: string,
  version: number,
  sealed: Uint8Array,
): SecretValues {
  return JSON.parse(open(dataKey, sealed, aadOf(tenantId, credentialId, version)).toString("utf8")) as SecretValues;
}
