import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { HashGate } from "./hash-gate.js";
import { hashingBusy } from "./login-throttle.js";

/**
 * scrypt at OWASP's recommended cost (N=2^17, r=8, p=1: 128 MiB, ~0.2 s
 * here). The cost is stored in each hash, so it can be raised later and old
 * hashes still verify; tests may lower it through config, never below 2^14.
 */
export const DEFAULT_SCRYPT_LOG_N = 17;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

/** Passwords shorter are refused; longer ones are refused to keep the hash affordable. */
export const PASSWORD_MIN_CHARS = 12;
export const PASSWORD_MAX_BYTES = 1024;

function derive(password: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  const options: ScryptOptions = { N, r: R, p: P, maxmem: 128 * R * N * 2 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFC"), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string, logN = DEFAULT_SCRYPT_LOG_N): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, logN);
  return `scrypt$${logN}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Constant-time comparison; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, logN, r, p, salt, key] = stored.split("$");
  if (scheme !== "scrypt" || Number(r) !== R || Number(p) !== P || !salt || !key) return false;
  const expected = Buffer.from(key, "base64");
  const actual = await derive(password, Buffer.from(salt, "base64"), Number(logN));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Every password hash the server computes, at one cost, through one gate. */
export interface PasswordHasher {
  /** `source` is who asks (the client's address): the gate shares its slots fairly between sources. */
  hash(password: string, source: string): Promise<string>;
  verify(password: string, stored: string, source: string): Promise<boolean>;
}

/** Throws LOGIN_THROTTLED (RESOURCE_EXHAUSTED) when the gate's queue is full: nothing is hashed. */
export function createPasswordHasher(logN: number, gate: HashGate): PasswordHasher {
  const gated = async <T>(source: string, task: () => Promise<T>) => {
    const done = await gate.run(source, task);
    if (!done) throw hashingBusy();
    return done.value;
  };
  return {
    hash: (password, source) => gated(source, () => hashPassword(password, logN)),
    verify: (password, stored, source) => gated(source, () => verifyPassword(password, stored)),
  };
}
