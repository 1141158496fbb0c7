import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { TokenKindColumn } from "../store/schema.js";

/*
 * Token plaintext: `<kind prefix><43 base62 chars: 256 random bits><6 base62 chars: checksum>`,
 * e.g. `ecr_…`. The prefix makes a leaked token recognisable (and greppable by
 * secret scanners); the checksum rejects typos and forgeries before any
 * database work. The checksum is keyed with the server's token key, so a spray
 * of made-up tokens cannot produce well-formed ones and never reaches the
 * database (a plain CRC would let an attacker mint well-formed junk at will).
 */
/** API token kinds, plus people's session tokens and one-time invitation codes: one format family. */
export type MintKind = TokenKindColumn | "session" | "invitation";

export const TOKEN_PREFIXES: Record<MintKind, string> = {
  platform_admin: "ecp_",
  tenant_admin: "eca_",
  runtime: "ecr_",
  service: "ecs_",
  session: "ecu_",
  invitation: "eci_",
};
const PREFIX_KIND = new Map(Object.entries(TOKEN_PREFIXES).map(([k, p]) => [p, k as MintKind]));

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LENGTH = 43; // ceil(256 / log2(62))
const CHECKSUM_LENGTH = 6;
const PREFIX_LENGTH = 4;
export const TOKEN_LENGTH = PREFIX_LENGTH + BODY_LENGTH + CHECKSUM_LENGTH;
/** Characters kept for display: the prefix and 4 more, ~24 bits of 256. */
const DISPLAY_LENGTH = PREFIX_LENGTH + 4;
const SHAPE = new RegExp(`^ec[parsui]_[0-9A-Za-z]{${BODY_LENGTH + CHECKSUM_LENGTH}}$`);

function base62(bytes: Uint8Array, length: number): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);
  let out = "";
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(length, "0").slice(-length);
}

function checksum(key: Uint8Array, prefixAndBody: string): string {
  const mac = createHmac("sha256", key).update("engine-token-checksum\0").update(prefixAndBody).digest();
  return base62(mac.subarray(0, 5), CHECKSUM_LENGTH);
}

/** A fresh token of a kind. */
export function mintToken(kind: MintKind, key: Uint8Array): string {
  const body = TOKEN_PREFIXES[kind] + base62(randomBytes(32), BODY_LENGTH);
  return body + checksum(key, body);
}

export type TokenShape =
  | { kind: "formatted"; tokenKind: MintKind }
  /** Not our format: only a token seeded from ENGINE_CLOUD_TOKEN can match. */
  | { kind: "free_form" }
  | { kind: "malformed"; why: string };

/** A free-form token (seeded from ENGINE_CLOUD_TOKEN) must be this long, printable ASCII without spaces: what a header carries intact. */
const FREE_FORM_MIN_LENGTH = 32;
const FREE_FORM_MAX_LENGTH = 512;
const FREE_FORM_CHARACTERS = /^[\x21-\x7e]+$/;

/**
 * Why a token could never get past the verifier's shape check, or undefined
 * if it could. It needs no key, so config.ts refuses an ENGINE_CLOUD_TOKEN
 * that would be seeded and then refused on every request (finding L8) by the
 * very rule `inspectToken` applies; only a formatted token's checksum, keyed,
 * waits for the bootstrap.
 */
export function tokenShapeProblem(token: string): string | undefined {
  const prefix = token.slice(0, PREFIX_LENGTH);
  if (PREFIX_KIND.has(prefix)) {
    return SHAPE.test(token) ? undefined : `starts with ${prefix} like a generated token but has the wrong length or characters`;
  }
  if (token.length < FREE_FORM_MIN_LENGTH) return `must be at least ${FREE_FORM_MIN_LENGTH} characters`;
  if (token.length > FREE_FORM_MAX_LENGTH) return `must be at most ${FREE_FORM_MAX_LENGTH} characters`;
  if (!FREE_FORM_CHARACTERS.test(token)) return "must be printable ASCII characters without spaces";
  return undefined;
}

/** Classifies a presented token without touching the database. */
export function inspectToken(token: string, key: Uint8Array): TokenShape {
  const prefixKind = PREFIX_KIND.get(token.slice(0, PREFIX_LENGTH));
  const problem = tokenShapeProblem(token);
  if (prefixKind) {
    if (problem) return { kind: "malformed", why: "wrong length or characters" };
    const given = Buffer.from(token.slice(-CHECKSUM_LENGTH));
    const expected = Buffer.from(checksum(key, token.slice(0, -CHECKSUM_LENGTH)));
    if (!timingSafeEqual(given, expected)) return { kind: "malformed", why: "checksum mismatch (a typo?)" };
    return { kind: "formatted", tokenKind: prefixKind };
  }
  return problem ? { kind: "malformed", why: "not an Engine Cloud token" } : { kind: "free_form" };
}

/**
 * The stored form: HMAC-SHA-256 under the server's token key. Tokens carry 256
 * random bits, so a fast keyed hash is as strong as a password hash here and
 * costs microseconds on the request path.
 */
export function hashToken(token: string, key: Uint8Array): Buffer {
  return createHmac("sha256", key).update(token).digest();
}

export function displayPrefix(token: string): string {
  return token.slice(0, DISPLAY_LENGTH);
}
