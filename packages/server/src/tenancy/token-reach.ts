import type { Caller } from "../auth/caller.js";
import type { TokenReach } from "../store/tokens.js";

/**
 * Which tokens `caller` may address. Platform admin tokens sit in the operator
 * tenant, so a tenant-level check alone would hand them to that tenant's
 * administrators: revoking them locked the operator out (finding M1).
 */
export function tokenReachOf(caller: Caller): TokenReach {
  return { platform: caller.platformAdmin };
}
