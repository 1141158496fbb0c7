import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { displayPrefix, hashToken, mintToken } from "./auth/token-format.js";
import type { Logger } from "./log.js";
import { STARTUP_LOCK_KEY } from "./store/migrate.js";
import { countProjects, setProjectState } from "./store/projects.js";
import type { Database } from "./store/schema.js";
import { findOperatorTenant, insertTenant } from "./store/tenants.js";
import { hasActivePlatformAdmin, insertToken, tokenExistsWithHash } from "./store/tokens.js";

export const OPERATOR_TENANT_SLUG = "default";

/** Start-up cannot go on for a reason the operator must fix in the environment. */
export class BootstrapError extends Error {}
const TOKEN_KEY_NAME = "token_hmac_key";

export interface BootstrapInput {
  /** ENGINE_CLOUD_TOKEN */
  token?: string;
  /** ENGINE_CLOUD_ALLOWED_PROJECTS */
  projects?: string[];
}

export interface BootstrapResult {
  tokenKey: Uint8Array;
  operatorTenantId: string;
  /** A platform admin token generated because none existed and none was given: shown once. */
  generatedToken?: string;
}

/**
 * Environment variables only seed an empty database: the first platform admin
 * token and the default tenant's first project policy. Once rows exist the
 * database rules and the env values are ignored (and the log says so).
 * Runs under the same advisory lock as migrations, so concurrent starts seed once.
 */
export async function bootstrap(db: Kysely<Database>, input: BootstrapInput, log: Logger): Promise<BootstrapResult> {
  return db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${STARTUP_LOCK_KEY})`.execute(tx);

    await tx
      .insertInto("server_secrets")
      .values({ name: TOKEN_KEY_NAME, value: randomBytes(32) })
      .onConflict((oc) => oc.column("name").doNothing())
      .execute();
    const tokenKey = (
      await tx.selectFrom("server_secrets").select("value").where("name", "=", TOKEN_KEY_NAME).executeTakeFirstOrThrow()
    ).value;

    const operator =
      (await findOperatorTenant(tx)) ??
      (await insertTenant(tx, { slug: OPERATOR_TENANT_SLUG, displayName: "Default", isOperator: true }));
    if (!operator) throw new Error(`a tenant "${OPERATOR_TENANT_SLUG}" exists but is not the operator tenant`);

    let generatedToken: string | undefined;
    const given = input.token;
    if (await hasActivePlatformAdmin(tx)) {
      if (given) {
        const known = await tokenExistsWithHash(tx, hashToken(given, tokenKey));
        log.info(
          known
            ? "ENGINE_CLOUD_TOKEN is already a stored token; nothing to seed"
            : "ENGINE_CLOUD_TOKEN ignored: the database has an active platform admin token; manage tokens with `engine-cloud token`",
        );
      }
    } else {
      if (given && (await tokenExistsWithHash(tx, hashToken(given, tokenKey)))) {
        // Seeding it again would bring a revoked (or expired) token back to life.
        throw new BootstrapError(
          "ENGINE_CLOUD_TOKEN is a token that was revoked or has expired, and no platform admin token is active; " +
            "set ENGINE_CLOUD_TOKEN to a new value (e.g. openssl rand -hex 32) to seed a new one",
        );
      }
      const secret = given ?? mintToken("platform_admin", tokenKey);
      await insertToken(tx, {
        tenantId: operator.id,
        kind: "platform_admin",
        label: "bootstrap",
        // A free-form seed shows only its first 4 characters: recognisable, not guessable.
        displayPrefix: given ? `${given.slice(0, 4)}…` : displayPrefix(secret),
        secretHash: hashToken(secret, tokenKey),
        freeForm: given !== undefined,
        projects: [],
        createdBy: "bootstrap",
      });
      if (!given) generatedToken = secret;
      log.info(given ? "seeded the platform admin token from ENGINE_CLOUD_TOKEN" : "generated a platform admin token");
    }

    if (input.projects) {
      if ((await countProjects(tx, operator.id)) === 0) {
        for (const name of input.projects) await setProjectState(tx, operator.id, name, "allowed", "bootstrap");
        log.info("seeded the default tenant's project policy from ENGINE_CLOUD_ALLOWED_PROJECTS", {
          projects: input.projects,
        });
      } else {
        log.info("ENGINE_CLOUD_ALLOWED_PROJECTS ignored: the default tenant has a project policy; manage it with `engine-cloud project`");
      }
    }
    return { tokenKey, operatorTenantId: operator.id, generatedToken };
  });
}
