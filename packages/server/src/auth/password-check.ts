import { createHmac } from "node:crypto";
import type { Kysely } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError, permissionDenied, unauthenticated } from "../errors/domain-error.js";
import { clearFailedSignIns, lockedForMs, recordFailedSignIn, type LockoutPolicy } from "../store/login-lockouts.js";
import { findUserByEmail, type UserRow } from "../store/users.js";
import type { Database } from "../store/schema.js";
import { throttled, type LoginAttempt, type LoginThrottle } from "./login-throttle.js";
import { hashPassword, type PasswordHasher } from "./password-hash.js";

export interface PasswordCheckDeps {
  db: Kysely<Database>;
  /** Per account: few free failures. Per source address: many, since offices and NATs share one. */
  throttles: { account: LoginThrottle; source: LoginThrottle };
  /**
   * The same, held in the database for every server process: failures per
   * keyed hash of the email (`key`) and of the source address.
   */
  lockouts: { key: Uint8Array; account: LockoutPolicy; source: LockoutPolicy };
  hasher: PasswordHasher;
  passwordHashLogN: number;
}

/** Checks an email and password; on failure throws the one generic LOGIN_FAILED or LOGIN_THROTTLED. */
export type PasswordCheck = (email: string, password: string, source: string) => Promise<UserRow>;

/** The one answer to every failed sign-in: nothing tells whether the email exists. */
export const loginFailed = () => unauthenticated(ErrorReason.LOGIN_FAILED, "wrong email, password or tenant");

/**
 * Every place that checks a password (login, accepting an invitation with an
 * existing account, changing a password) goes through here, under the same
 * throttles, so none of them is a side door for guessing. Unknown emails cost
 * the same hash as known ones and fail the same way.
 *
 * Both throttles are passed before the database or the hasher is touched, and
 * the hasher's gate bounds the hashes in flight from everywhere: a flood from
 * one address holds at most a few of its slots, whatever accounts it targets.
 */
export function createPasswordCheck(deps: PasswordCheckDeps): PasswordCheck {
  const { db, hasher } = deps;
  // Computed once, outside the gate: it is the server's own, not a caller's, work.
  const decoy = hashPassword("engine-cloud decoy password", deps.passwordHashLogN);

  const { lockouts } = deps;
  const lockoutKey = (kind: string, value: string) =>
    `${kind}:${createHmac("sha256", lockouts.key).update(`login-lockout:${kind}:${value}`).digest("base64url")}`;

  return async (email, password, source) => {
    const attempts: LoginAttempt[] = [];
    try {
      attempts.push(deps.throttles.account.begin(email.toLowerCase()));
      attempts.push(deps.throttles.source.begin(source));
      // Keyed, so the table lists neither emails nor addresses; by email whether or not an account has it,
      // so a lock reads the same from every process for a real account and a made-up one.
      const account = lockoutKey("email", email.toLowerCase());
      const address = lockoutKey("address", source);
      const lockedMs = await lockedForMs(db, [account, address]);
      if (lockedMs > 0) throw throttled(lockedMs);
      const user = await findUserByEmail(db, email);
      const ok = await hasher.verify(password, user?.password_hash ?? (await decoy), source);
      if (!user || !ok || user.disabled_at) {
        for (const a of attempts) a.fail();
        // One write per failure, as known accounts always had: each costs a password hash first, so the hash gate bounds them.
        await recordFailedSignIn(db, [
          { key: account, policy: lockouts.account },
          { key: address, policy: lockouts.source },
        ]);
        throw loginFailed();
      }
      // Only the account's strikes clear: one good password must not buy an address more guesses at others.
      attempts[0]!.succeed();
      await clearFailedSignIns(db, account);
      return user;
    } finally {
      for (const a of attempts) a.end();
    }
  };
}

/**
 * For a person who already proved who they are (signed in, or holding an
 * invitation to their email): a wrong password may say so plainly.
 */
export async function requireOwnPassword(check: PasswordCheck, email: string, password: string, source: string, message: string) {
  try {
    return await check(email, password, source);
  } catch (err) {
    if (err instanceof DomainError && err.reason === ErrorReason.LOGIN_FAILED)
      throw permissionDenied(ErrorReason.WRONG_PASSWORD, message);
    throw err;
  }
}
