import { ErrorReason } from "@engine-cloud/api";
import { unauthenticated } from "../errors/domain-error.js";

/**
 * The credential of a request: `authorization: Bearer <token>` (the scheme is optional for gRPC tooling).
 *
 * Repeated `authorization` headers are refused, never resolved by picking one: layers that picked
 * differently (node keeps the first, a proxy may keep the last) would check one credential and act
 * on another. They arrive here comma-joined (RFC 9110 §5.3; see transport/repeated-authorization.ts), and no
 * bearer token contains a comma (RFC 6750 token68), so a comma means more than one credential.
 */
export function bearerOf(header: Headers): string | undefined {
  const value = header.get("authorization")?.trim();
  if (!value) return undefined;
  if (value.includes(",")) {
    throw unauthenticated(
      ErrorReason.AUTHORIZATION_REPEATED,
      "the request carries more than one credential; send exactly one authorization header with one bearer token",
    );
  }
  const m = /^Bearer\s+(.+)$/i.exec(value);
  return m ? m[1] : value;
}
