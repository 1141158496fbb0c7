import { randomBytes } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import { displayPrefix, hashToken, inspectToken, mintToken } from "./auth/token-format.js";
import type { RootKeyRing } from "./crypto/root-keys.js";
import { openTokenKey, TokenKeyUnavailable } from "./crypto/token-key.js";
import type { Logger } from "./log.js";
import { takeStartupLock } from "./store/migrate.js";
import { countProjects } from "./store/projects.js";
import { changeProjectState } from "./tenancy/project-changes.js";
import type { Database } from "./store/schema.js";
import { findOperatorTenant, insertTenant } from "./store/tenants.js";
import { hasActivePlatformAdmin, insertToken, tokenStateByHash } from "./store/tokens.js";
import { replaceSetupCode } from "./store/setup-codes.js";
import { hasPlatformAdminPerson } from "./store/users.js";

export const OPERATOR_TENANT_SLUG = "default";

/** How long a setup code works (AuthService.CompleteSetup): long enough to open the link, short enough to not linger. */
export const SETUP_CODE_TTL_MS = 60 * 60_000;

/** Start-up cannot go on for a reason the operator must fix in the environment. */
export class BootstrapError extends Error {}

export interface BootstrapInput {
  /** ENGINE_CLOUD_TOKEN */
  token?: string;
  /** ENGINE_CLOUD_ALLOWED_PROJECTS */
  projects?: string[];
  /** The root keys: the token key is stored sealed under them. */
  rootKeys: RootKeyRing;
}

export interface BootstrapResult {
  tokenKey: Uint8Array;
  operatorTenantId: string;
  /** A platform admin token generated because none existed and none was given: shown once. */
  generatedToken?: string;
  /**
   * The one-time code that creates the first platform administrator person, minted because none exists: shown
   * once (cli-entry.ts prints the console link). A later start mints another and this one stops working.
   */
  setupCode?: string;
}

/**
 * Environment variables only seed an empty database: the first platform admin
 * token and the default tenant's first project policy. Once rows exist the
 * database rules and the env values are ignored (and the log says so).
 * Runs under the same advisory lock as migrations, so concurrent starts seed once.
 */
export async function bootstrap(db: Kysely<Database>, input: BootstrapInput, log: Logger): Promise<BootstrapResult> {
  return db.transaction().execute(async (tx) => {
    await takeStartupLock(tx);

    const tokenKey = await openTokenKeyOrExplain(tx, input.rootKeys, log);

    const operator =
      (await findOperatorTenant(tx)) ??
      (await insertTenant(tx, { slug: OPERATOR_TENANT_SLUG, displayName: "Default", isOperator: true }));
    if (!operator) throw new Error(`a tenant "${OPERATOR_TENANT_SLUG}" exists but is not the operator tenant`);

    const generatedToken = await seedPlatformAdmin(tx, operator.id, input.token, tokenKey, log);

    if (input.projects) {
      if ((await countProjects(tx, operator.id)) === 0) {
        for (const name of input.projects)
          await changeProjectState({ tx, tenantId: operator.id, actor: { kind: "bootstrap" } }, name, "allowed");
        log.info("seeded the default tenant's project policy from ENGINE_CLOUD_ALLOWED_PROJECTS", {
          projects: input.projects,
        });
      } else {
        log.info(
          "ENGINE_CLOUD_ALLOWED_PROJECTS ignored: the default tenant has a project policy; manage it with `engine-cloud project`",
        );
      }
    }
    const setupCode = await mintSetupCode(tx, tokenKey);
    return { tokenKey, operatorTenantId: operator.id, generatedToken, setupCode };
  });
}

/** A new setup code while no platform administrator person exists; only its keyed hash is stored. */
async function mintSetupCode(tx: Transaction<Database>, tokenKey: Buffer): Promise<string | undefined> {
  if (await hasPlatformAdminPerson(tx)) return undefined;
  const code = randomBytes(32).toString("base64url");
  await replaceSetupCode(tx, hashToken(code, tokenKey), new Date(Date.now() + SETUP_CODE_TTL_MS));
  return code;
}

async function openTokenKeyOrExplain(tx: Transaction<Database>, ring: RootKeyRing, log: Logger): Promise<Buffer> {
  try {
    const { key, sealedLegacy } = await openTokenKey(tx, ring);
    if (sealedLegacy) log.info("sealed the token key under the root key (an earlier version stored it in plaintext)");
    return key;
  } catch (err) {
    if (err instanceof TokenKeyUnavailable) throw new BootstrapError(err.message);
    throw err;
  }
}

/**
 * Seeds the platform admin token when none is active. A stored token given
 * again is never brought back to life (it may have been revoked because it
 * leaked), and a revoked seed never stops the start: refusing would take every
 * tenant's runtimes down along with the operator's access (finding M1). With
 * another platform admin token active the server starts as usual and warns;
 * with none, it serves tenants and says how to recover (a new seed value).
 * Returns the token it generated, if it did.
 */
async function seedPlatformAdmin(
  tx: Transaction<Database>,
  operatorId: string,
  given: string | undefined,
  tokenKey: Buffer,
  log: Logger,
): Promise<string | undefined> {
  const stored = given === undefined ? undefined : await tokenStateByHash(tx, hashToken(given, tokenKey));
  if (await hasActivePlatformAdmin(tx)) {
    if (stored === "active") log.info("ENGINE_CLOUD_TOKEN is already a stored token; nothing to seed");
    else if (stored === "inactive") {
      log.warn(
        "ENGINE_CLOUD_TOKEN is a token that was revoked or has expired, and it stays so; starting as usual with the " +
          "platform admin tokens that are active. Unset ENGINE_CLOUD_TOKEN or set it to an active token to silence this",
      );
    } else if (given) {
      log.info(
        "ENGINE_CLOUD_TOKEN ignored: the database has an active platform admin token; manage tokens with `engine-cloud token`",
      );
    }
    return undefined;
  }
  if (stored !== undefined) {
    log.error(
      "no platform admin token is active, and ENGINE_CLOUD_TOKEN is a stored token that was revoked, has expired or " +
        "is not a platform admin token, which is never turned into one; tenants are served as usual, but to administer " +
        "the platform restart with ENGINE_CLOUD_TOKEN set to a new value (e.g. openssl rand -hex 32)",
    );
    return undefined;
  }
  if (given) {
    // config.ts checked the shape; only this server's key tells whether a generated-looking seed's checksum holds.
    const shape = inspectToken(given, tokenKey);
    if (shape.kind === "malformed" || (shape.kind === "formatted" && shape.tokenKind !== "platform_admin")) {
      throw new BootstrapError(
        `ENGINE_CLOUD_TOKEN could never be presented as a platform admin token (${shape.kind === "malformed" ? shape.why : "a generated token of another kind"}); ` +
          "set it to a new value (e.g. openssl rand -hex 32)",
      );
    }
  }
  const secret = given ?? mintToken("platform_admin", tokenKey);
  await insertToken(tx, {
    tenantId: operatorId,
    kind: "platform_admin",
    label: "bootstrap",
    // A free-form seed shows only its first 4 characters: recognisable, not guessable.
    displayPrefix: given ? `${given.slice(0, 4)}…` : displayPrefix(secret),
    secretHash: hashToken(secret, tokenKey),
    freeForm: given !== undefined,
    projects: [],
    createdBy: "bootstrap",
  });
  log.info(given ? "seeded the platform admin token from ENGINE_CLOUD_TOKEN" : "generated a platform admin token");
  return given ? undefined : secret;
}
