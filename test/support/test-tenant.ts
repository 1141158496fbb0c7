import { randomBytes } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CredentialType,
  TokenKind,
  type Credential,
  type PutCredentialRequest,
  type PutCredentialRequestSchema,
} from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient, type CloudClientOptions } from "@engine-cloud/sdk/node";

/** Where a server listens and its platform admin token: a TestServer, or a spawned server process. */
export interface ServerAddress {
  url: string;
  adminToken: string;
}

export interface TestTenant {
  slug: string;
  id: string;
  /** The platform admin, acting in this tenant. */
  admin: CloudClient;
  /** Mints a token of this tenant: a runtime token unless `kind` says otherwise. */
  token(options?: { kind?: TokenKind; projects?: string[] }): Promise<{ id: string; secret: string }>;
}

/**
 * A tenant of the test's own, so that revisions, listings and policy changes
 * of one test never show up in another's. `allow`/`deny` seed its project policy.
 */
export async function createTestTenant(
  server: ServerAddress,
  policy: { allow?: string[]; deny?: string[] } = {},
): Promise<TestTenant> {
  const slug = `t-${randomBytes(6).toString("hex")}`;
  const platform = createCloudClient({ baseUrl: server.url, token: server.adminToken });
  const { tenant } = await platform.tenants.createTenant({ slug });
  const admin = createCloudClient({ baseUrl: server.url, token: server.adminToken, tenant: slug });
  for (const name of policy.allow ?? []) await admin.projects.allowProject({ name });
  for (const name of policy.deny ?? []) await admin.projects.denyProject({ name });
  return {
    slug,
    id: tenant!.id,
    admin,
    async token({ kind = TokenKind.RUNTIME, projects = [] } = {}) {
      const label = `test-${randomBytes(3).toString("hex")}`;
      const { token, secret } = await admin.tokens.createToken({ label, kind, projects });
      return { id: token!.id, secret };
    },
  };
}

/** A client of `server` acting with `token`. */
export function clientOf(server: { url: string }, token: string, options: Partial<CloudClientOptions> = {}): CloudClient {
  return createCloudClient({ baseUrl: server.url, token, ...options });
}

/** A secret value no other test uses, so finding it anywhere is a leak of this very credential. */
export function uniqueSecret(): string {
  return `secret-${randomBytes(16).toString("hex")}`;
}

export interface CredentialName {
  /** Default: tenant-wide (""). */
  project?: string;
  provider: string;
  alias?: string;
}

/** A PutCredential request as an object literal (not an already built message). */
type PutInit = Exclude<MessageInitShape<typeof PutCredentialRequestSchema>, PutCredentialRequest>;

/** A PutCredential request for an API-key credential holding `secret`. */
export function apiKeyRequest(name: CredentialName, secret: string, extra: Partial<PutInit> = {}): PutInit {
  return {
    project: name.project ?? "",
    provider: name.provider,
    alias: name.alias ?? "",
    type: CredentialType.API_KEY,
    keys: { api_key: { value: secret } },
    ...extra,
  };
}

/** Puts an API-key credential and returns it as stored. */
export async function putApiKey(
  client: CloudClient,
  name: CredentialName,
  secret: string,
  extra: Partial<PutInit> = {},
): Promise<Credential> {
  const { credential } = await client.credentials.putCredential(apiKeyRequest(name, secret, extra));
  return credential!;
}

/** JSON of any response, bigints included: what a leak check searches. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") return String(v);
    return v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v;
  });
}

/** Runs the tasks with at most `concurrency` of them in flight; resolves with their results in order. */
export async function runConcurrently<T>(tasks: Array<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  return results;
}
