import type { Interceptor } from "@connectrpc/connect";
import { TENANT_HEADER } from "@engine-cloud/api";
import { connectionLossAsUnavailable } from "./errors.js";

/** Who a client calls as. */
export interface CloudCallerOptions {
  /** Bearer credential: an API token, or a person's session token (from Login). */
  token?: string;
  /** For platform administrators: the tenant (slug or id) to act in. */
  tenant?: string;
}

/** Adds the caller's credential and tenant to every request. */
function credentialInterceptor(token: string | undefined, tenant: string | undefined): Interceptor {
  return (next) => (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    if (tenant) req.header.set(TENANT_HEADER, tenant);
    return next(req);
  };
}

/** Reports a dropped connection as UNAVAILABLE, on unary calls and mid-stream alike (see connectionLossAsUnavailable). */
const connectionLossInterceptor: Interceptor = (next) => async (req) => {
  let res;
  try {
    res = await next(req);
  } catch (err) {
    throw connectionLossAsUnavailable(err, req.signal);
  }
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw connectionLossAsUnavailable(err, req.signal);
      }
    })(),
  };
};

/**
 * The interceptors every Engine Cloud transport starts with, whichever transport package built it: a lost
 * connection reported as UNAVAILABLE, then the caller's credential and tenant; `extra` run after them.
 */
export function cloudInterceptors(caller: CloudCallerOptions, extra: Interceptor[] = []): Interceptor[] {
  return [connectionLossInterceptor, credentialInterceptor(caller.token, caller.tenant), ...extra];
}
