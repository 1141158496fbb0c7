import type { Kysely } from "kysely";
import { DomainError, permissionDenied, unauthenticated } from "../errors/domain-error.js";
import { findUserByEmail, recordLoginFailure, type UserRow } from "../store/people.js";
import type { Database } from "../store/schema.js";
import { throttled, type LoginAttempt, type LoginThrottle } from "./login-throttle.js";
import { hashPassword, type PasswordHasher } from "./password-hash.js";

export interface PasswordCheckDeps {
  db: Kysely<Database>;
  /** Per account: few free failures. Per source address: many, since offices and NATs share one. */
  throttles: { account: LoginThrottle; source: LoginThrottle };
  hasher: PasswordHasher;
  passwordHashLogN: number;
}

/** Checks an email and password; on failure throws the one generic LOGIN_FAILED or LOGIN_THROTTLED. */
export type PasswordCheck = (email: string, password: string, source: string) => Promise<UserRow>;

/** The one answer to every failed sign-in: nothing tells whether the email exists. */
export const loginFailed = () => unauthenticated("LOGIN_FAILED", "wrong email, password or tenant");

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

  return async (email, password, source) => {
    const attempts: LoginAttempt[] = [];
    try {
      attempts.push(deps.throttles.account.begin(email.toLowerCase()));
      attempts.push(deps.throttles.source.begin(source));
      const user = await findUserByEmail(db, email);
      // Known accounts are also locked in the database, so the lockout holds on every server.
      if (user?.locked_until && user.locked_until.getTime() > Date.now()) {
        throw throttled(user.locked_until.getTime() - Date.now());
      }
      const ok = await hasher.verify(password, user?.password_hash ?? (await decoy), source);
      if (!user || !ok || user.disabled_at) {
        for (const a of attempts) a.fail();
        if (user && !ok) await recordLoginFailure(db, user.id);
        throw loginFailed();
      }
      // Only the account's strikes clear: one good password must not buy an address more guesses at others.
      attempts[0]!.succeed();
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
export async function checkOwnPassword(check: PasswordCheck, email: string, password: string, source: string, message: string) {
  try {
    return await check(email, password, source);
  } catch (err) {
    if (err instanceof DomainError && err.reason === "LOGIN_FAILED") throw permissionDenied("WRONG_PASSWORD", message);
    throw err;
  }
}
