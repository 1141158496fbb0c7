import { clone } from "@bufbuild/protobuf";
import { CredentialSchema, type Credential } from "@engine-cloud/api";
import { UsageError } from "../framework/usage-error.js";

/** A credential's name on the command line: `<provider>[/<alias>]`. */
export interface CredentialRef {
  provider: string;
  /** Empty when not given; the server reads that as "default". */
  alias: string;
}

/** Reads `hubspot` or `hubspot/work`. The server checks the characters; this only splits. */
export function parseCredentialRef(text: string): CredentialRef {
  const parts = text.split("/");
  if (parts.length > 2 || parts.some((part) => part === "")) {
    throw new UsageError(`invalid credential "${text}": use <provider> or <provider>/<alias>, e.g. hubspot/work`);
  }
  return { provider: parts[0], alias: parts[1] ?? "" };
}

/** `hubspot/work`, the way the command line names it. */
export function formatCredentialRef(credential: { provider: string; alias: string }): string {
  return `${credential.provider}/${credential.alias || "default"}`;
}

/** A credential's project for people: tenant-wide ones belong to every project. */
export function formatCredentialProject(project: string): string {
  return project || "all";
}

/**
 * A copy of the credential with every secret value emptied, as listings carry it; key names and expiries stay.
 * The CLI prints secrets only when asked: a terminal is scrolled back, recorded and pasted, and CI keeps its logs.
 */
export function hideSecretValues(credential: Credential): Credential {
  const copy = clone(CredentialSchema, credential);
  for (const key of Object.values(copy.keys)) key.value = "";
  return copy;
}

/** `name=value` pairs on one line, each value quoted when it would otherwise run into the next. */
export function formatNamedValues(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name}=${/^[^\s"'=]+$/.test(value) ? value : JSON.stringify(value)}`)
    .join(" ");
}
