import { DEFAULT_ALIAS } from "@engine-cloud/api";

/**
 * How a caller names one credential: its id, or (project, provider, alias).
 * An absent project means "the project the client serves, else tenant-wide";
 * `project: ""` means tenant-wide only.
 */
export type CredentialRef = { id: string } | { project?: string; provider: string; alias?: string };

/** A credential name resolved to its parts; the alias defaults to "default". */
export interface CredentialName {
  project?: string;
  provider: string;
  alias: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string is shaped like a credential id (a UUID). */
export function isCredentialId(value: string): boolean {
  return UUID.test(value);
}

/**
 * Reads "provider/alias" or "provider" (alias "default"). Neither part may
 * contain "/", so a name with two slashes is refused rather than guessed at.
 */
export function parseCredentialName(name: string): CredentialName {
  const parts = name.split("/");
  const [provider, alias] = parts;
  if (parts.length > 2 || !provider || alias === "") {
    throw new TypeError(`"${name}" is not a credential name: use "provider" or "provider/alias", e.g. "google/work"`);
  }
  return { provider, alias: alias ?? DEFAULT_ALIAS };
}

/**
 * A string ref is an id when it is UUID-shaped, a name otherwise. Provider
 * names may look like UUIDs too; callers who mean such a provider pass
 * `{ provider }` instead.
 */
export function resolveCredentialRef(ref: string | CredentialRef): { id: string } | CredentialName {
  if (typeof ref === "string") return isCredentialId(ref) ? { id: ref } : parseCredentialName(ref);
  if ("id" in ref) return { id: ref.id };
  return { project: ref.project, provider: ref.provider, alias: ref.alias || DEFAULT_ALIAS };
}

/** "provider/alias", the key runtimes look credentials up by. */
export function credentialNameOf(c: { provider: string; alias: string }): string {
  return `${c.provider}/${c.alias || DEFAULT_ALIAS}`;
}
