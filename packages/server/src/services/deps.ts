import type { Kysely } from "kysely";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import type { Database } from "../store/schema.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import type { ProjectDirectory } from "../tenancy/project-directory.js";

/** What every service implementation is built from (see app.ts). */
export interface ServiceDeps {
  db: Kysely<Database>;
  feed: ChangeFeed;
  /** Server secret keying token hashes and checksums. */
  tokenKey: Uint8Array;
  /** Per-tenant data keys for sealing credentials. */
  keys: TenantKeys;
  /** The project policy, cached and kept current by the change feed. */
  projects: ProjectDirectory;
  version: string;
}
