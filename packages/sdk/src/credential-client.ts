import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { CredentialKeySchema, type Credential, type CredentialKey, type CredentialType } from "@engine-cloud/api";
import type { CloudClient } from "./client.js";
import { parseCredentialName, resolveCredentialRef, type CredentialRef } from "./credential-ref.js";

/** A secret value: the string, or the string with its expiry. */
export type CredentialKeyInput = string | { value: string; expiresAt?: Date };

/** What a put writes besides the credential's name. */
export interface CredentialFields {
  type: CredentialType;
  /** Secret values by name, e.g. { api_key: "…" } or { access_token: { value, expiresAt } }. */
  keys: Record<string, CredentialKeyInput>;
  identity?: Record<string, string>;
  metadata?: Record<string, string>;
  scopes?: string[];
  autoRefresh?: boolean;
  /** Write only if the stored version is this one (0: only if it does not exist). Unset: unconditionally. */
  expectedVersion?: bigint | number;
}

export interface ListCredentialsFilter {
  /** Only credentials visible to this project (its own and tenant-wide); default the client's project. */
  project?: string;
  provider?: string;
  /** Credentials fetched per call, 1 to 1000; default the server's (100). */
  pageSize?: number;
}

/** Reads and writes a tenant's credentials, for runtimes and services. */
export interface EngineCredentialClient {
  /**
   * One credential with its secrets, or undefined if there is none. `ref` is
   * an id, "provider/alias", "provider" (alias "default") or an object.
   */
  get(ref: string | CredentialRef): Promise<Credential | undefined>;
  /** Every credential matching the filter, fetching page after page; secret values are empty. */
  list(filter?: ListCredentialsFilter): AsyncIterable<Credential>;
  /** Creates or replaces the named credential; returns it as stored. */
  put(ref: string | { project?: string; provider: string; alias?: string }, fields: CredentialFields): Promise<Credential>;
  /** Deletes a credential; returns the tenant revision of the delete. */
  delete(id: string, options?: { expectedVersion?: bigint | number }): Promise<bigint>;
}

function toCredentialKeys(keys: Record<string, CredentialKeyInput>): Record<string, CredentialKey> {
  return Object.fromEntries(
    Object.entries(keys).map(([name, key]) => [
      name,
      typeof key === "string"
        ? create(CredentialKeySchema, { value: key })
        : create(CredentialKeySchema, {
            value: key.value,
            expiresAt: key.expiresAt && timestampFromDate(key.expiresAt),
          }),
    ]),
  );
}

function isNotFound(err: unknown): boolean {
  return ConnectError.from(err).code === Code.NotFound;
}

/**
 * The credential client over a CloudClient of any transport. `project` is the project this caller serves: names
 * without a project resolve to it first, then to tenant-wide credentials, the way a runtime of that project sees
 * them. In Node, "@engine-cloud/sdk/node"'s createCredentialClient also reads its settings from the environment.
 */
export function createCredentialClient(options: { client: CloudClient; project?: string }): EngineCredentialClient {
  const servedProject = options.project;
  const credentials = options.client.credentials;

  async function getExactly(request: { id?: string; project?: string; provider?: string; alias?: string }) {
    try {
      return (await credentials.getCredential(request)).credential;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  return {
    async get(ref) {
      const resolved = resolveCredentialRef(ref);
      if ("id" in resolved) return getExactly({ id: resolved.id });
      const { provider, alias } = resolved;
      if (resolved.project !== undefined) return getExactly({ project: resolved.project, provider, alias });
      // A project's own credential shadows the tenant-wide one of the same name.
      if (servedProject) {
        const own = await getExactly({ project: servedProject, provider, alias });
        if (own) return own;
      }
      return getExactly({ project: "", provider, alias });
    },

    async *list(filter = {}) {
      let pageToken = "";
      do {
        const page = await credentials.listCredentials({
          project: filter.project ?? servedProject ?? "",
          provider: filter.provider ?? "",
          pageSize: filter.pageSize ?? 0,
          pageToken,
        });
        yield* page.credentials;
        pageToken = page.nextPageToken;
      } while (pageToken);
    },

    async put(ref, fields) {
      const name = typeof ref === "string" ? parseCredentialName(ref) : ref;
      const { credential } = await credentials.putCredential({
        project: name.project ?? servedProject ?? "",
        provider: name.provider,
        alias: name.alias ?? "",
        type: fields.type,
        keys: toCredentialKeys(fields.keys),
        identity: fields.identity ?? {},
        metadata: fields.metadata ?? {},
        scopes: fields.scopes ?? [],
        autoRefresh: fields.autoRefresh ?? false,
        expectedVersion: fields.expectedVersion === undefined ? undefined : BigInt(fields.expectedVersion),
      });
      if (!credential) throw new ConnectError("the server returned no credential", Code.Internal);
      return credential;
    },

    async delete(id, deleteOptions = {}) {
      const { expectedVersion } = deleteOptions;
      const { revision } = await credentials.deleteCredential({
        id,
        expectedVersion: expectedVersion === undefined ? undefined : BigInt(expectedVersion),
      });
      return revision;
    },
  };
}
