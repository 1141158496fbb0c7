import { randomBytes, randomInt } from "node:crypto";
import { TokenKind } from "@engine-cloud/api";
import { errorReason } from "@engine-cloud/sdk";
import { asBearer, benchClient, type BenchProtocol } from "./auth-bench.js";
import type { InProcessServer } from "./in-process-server.js";
import { runClosedLoop, summarize, type LoadSummary } from "./load.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** Every kind of token the server mints: admin, tenant admin, runtime, service, session, invitation. */
const KIND_PREFIXES = ["ecp_", "eca_", "ecr_", "ecs_", "ecu_", "eci_"];
const PRINTABLE = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");

function randomString(alphabet: string, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

/**
 * What an attacker can send without the server's token key, in rotation:
 * tokens of our exact shape (every kind's prefix, 49 base62 chars) whose keyed
 * checksum cannot be right; free-form strings like a seeded ENGINE_CLOUD_TOKEN;
 * garbage; and one genuine token replayed after it was revoked.
 */
function invalidToken(i: number, revoked: string): string {
  switch (i % 4) {
    case 0:
      return `${KIND_PREFIXES[randomInt(KIND_PREFIXES.length)]}${randomString(BASE62, 49)}`;
    case 1:
      return randomString(PRINTABLE, 40);
    case 2:
      return randomBytes(randomInt(1, 24)).toString("base64url");
    default:
      return revoked;
  }
}

export interface SprayResult {
  requests: number;
  /** Database token look-ups the spray caused (the verifier's own counter). */
  lookups: number;
  /**
   * The most look-ups a sound verifier may make: one per genuine token in the
   * spray (there is one, revoked) per cache lifetime the spray lasted.
   */
  lookupBound: number;
  /** Refusal reasons seen, with counts; anything but UNAUTHENTICATED is a finding. */
  reasons: Map<string, number>;
  summary: LoadSummary;
}

/**
 * Needs the server in this process: the look-up counter (`verifier.lookups`)
 * is only readable there.
 */
export async function benchInvalidTokenSpray(opts: {
  target: InProcessServer;
  protocol: BenchProtocol;
  requests: number;
  concurrency: number;
  maxDurationMs: number;
}): Promise<SprayResult> {
  const { server, secrets } = opts.target;
  const client = benchClient(server.url, opts.protocol);
  const admin = asBearer(secrets.adminToken);
  const { secret, token } = await client.tokens.createToken({ label: "revoked", kind: TokenKind.SERVICE }, admin);
  await client.tokens.revokeToken({ id: token!.id }, admin);

  const reasons = new Map<string, number>();
  const before = server.app.verifier.lookups;
  const run = await runClosedLoop(
    { concurrency: opts.concurrency, maxRequests: opts.requests, maxDurationMs: opts.maxDurationMs },
    async (i, signal) => {
      try {
        await client.projects.getProject({ name: "bench" }, asBearer(invalidToken(i, secret), signal));
        reasons.set("ACCEPTED", (reasons.get("ACCEPTED") ?? 0) + 1);
      } catch (err) {
        const reason = errorReason(err);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    },
  );
  return {
    requests: run.requests,
    lookups: server.app.verifier.lookups - before,
    lookupBound: 1 + Math.floor(run.windowMs / opts.target.tokenCacheTtlMs),
    reasons,
    summary: summarize([run]),
  };
}
