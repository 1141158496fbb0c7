import type { Kysely } from "kysely";
import type { CallerResolver } from "../auth/caller-resolver.js";
import { DomainError } from "../errors/domain-error.js";
import { getProject, type ProjectRow } from "../store/projects.js";
import type { Database } from "../store/schema.js";
import { requireProjectAllowed } from "../tenancy/project-policy.js";
import { systemScope, withTenant } from "../store/with-tenant.js";
import { requireSyncRead } from "./sync-access.js";
import type { Reauthorize, SyncWatcher } from "./sync-hub.js";

/**
 * Re-runs, for open streams, the checks a new Watch passes: the credential
 * (revoked? expired? tenant suspended?) and the project policy. One policy
 * read per (tenant, project) however many streams share it; token checks go
 * through the verifier, whose cache the triggering change already evicted.
 */
export function createReauthorizer(db: Kysely<Database>, verifier: CallerResolver): Reauthorize {
  return async (watchers) => {
    const verdicts = new Map<SyncWatcher, DomainError>();
    const policies = new Map<string, Promise<ProjectRow | undefined>>();
    const policyOf = (w: SyncWatcher) => {
      const key = `${w.tenantId}\0${w.project}`;
      let p = policies.get(key);
      if (!p) {
        p = withTenant(db, systemScope(w.tenantId, "system:sync-reauthorize"), ({ tx }) => getProject(tx, w.tenantId, w.project));
        policies.set(key, p);
      }
      return p;
    };
    await Promise.all(
      watchers.map(async (w) => {
        try {
          const caller = await verifier.verify(w.bearer);
          requireSyncRead(caller);
          requireProjectAllowed(w.project, await policyOf(w), caller.projects);
        } catch (err) {
          if (err instanceof DomainError) verdicts.set(w, err);
          else throw err;
        }
      }),
    );
    return verdicts;
  };
}
