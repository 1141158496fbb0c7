import { invitationsThrottled, LoginThrottle } from "./login-throttle.js";
import { FREE_LOGIN_FAILURES } from "../store/users.js";

/**
 * The curves of sign-in throttling, in one place. An account's failed
 * sign-ins count until a success; an address's are many and forgiven with
 * time, because offices and NATs share one (and a few may sign in at once).
 * The account curve is the database lock's too (store/login-lockouts.ts),
 * which holds across servers.
 */
export const ACCOUNT_LOCKOUT = { freeFailures: FREE_LOGIN_FAILURES, forgiveMs: 0 };
export const SOURCE_LOCKOUT = { freeFailures: 50, forgiveMs: 10_000 };

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 15 * 60_000;

/** The sign-in curve of one source address: many free failures (shared addresses), forgiven with time. */
const PER_ADDRESS = {
  freeFailures: SOURCE_LOCKOUT.freeFailures,
  baseDelayMs: BASE_DELAY_MS,
  maxDelayMs: MAX_DELAY_MS,
  maxInFlight: 8,
  forgiveOneEveryMs: SOURCE_LOCKOUT.forgiveMs,
};

/** The in-memory throttles of one process: per account, per source address, and per address for invitation codes. */
export function createLoginThrottles() {
  return {
    account: new LoginThrottle({
      freeFailures: ACCOUNT_LOCKOUT.freeFailures,
      baseDelayMs: BASE_DELAY_MS,
      maxDelayMs: MAX_DELAY_MS,
      maxInFlight: 1,
    }),
    source: new LoginThrottle(PER_ADDRESS),
    // Setup codes (AuthService.CompleteSetup), per address on the sign-in curve, but apart from sign-ins: a sweep of
    // wrong codes must not lock an office out of signing in.
    setup: new LoginThrottle(PER_ADDRESS),
    // Codes are 256-bit and checksummed, so failures from one address are guesses or replays of dead codes:
    // a few free, then growing delays, forgiven with time like the address throttle of sign-ins.
    invitation: new LoginThrottle({
      freeFailures: 20,
      baseDelayMs: BASE_DELAY_MS,
      maxDelayMs: MAX_DELAY_MS,
      maxInFlight: 8,
      forgiveOneEveryMs: 10_000,
      refusal: invitationsThrottled,
    }),
  };
}
