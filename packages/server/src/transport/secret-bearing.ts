import { getOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { secret_bearing } from "@engine-cloud/api/gen/engine/cloud/v1/access_pb.js";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import { toConnectError } from "../errors/to-connect-error.js";

/**
 * The header on every response of a secret-bearing RPC: no browser, proxy or
 * CDN may store it, so a secret never outlives the call in a cache or history.
 */
export const NO_STORE = { name: "cache-control", value: "no-store" } as const;

/** Whether the RPC declares `(engine.cloud.v1.secret_bearing) = true` in the proto. */
export const isSecretBearing = (method: DescMethod): boolean => getOption(method, secret_bearing);

/** "package.Service/Method" of every secret-bearing RPC of the services, read once at start like the access table. */
export function secretBearingMethods(services: DescService[]): Set<string> {
  return new Set(services.flatMap((s) => s.methods.filter(isSecretBearing).map((m) => `${s.typeName}/${m.name}`)));
}

const secretOverHttpGet = () =>
  new DomainError(
    "invalid_argument",
    ErrorReason.HTTP_GET_NOT_ALLOWED,
    "this method returns secret values and is not served over HTTP GET; send the request as a POST",
  );

/**
 * Marks every response of a secret-bearing RPC `cache-control: no-store`,
 * errors included, and refuses it over HTTP GET before anything else runs.
 * Why refuse GET: Connect serves NO_SIDE_EFFECTS methods over GET, and a GET
 * is what a link, an <img> or a prefetch sends cross-site without a CORS
 * preflight; a secret read must never be one. The proto keeps NO_SIDE_EFFECTS
 * (changing it breaks WIRE_JSON compatibility, and clients may still choose
 * GET), so the refusal lives here. Sits right after the request log, so the
 * refusal is logged and costs no credential check or handler run.
 */
export function createSecretBearingInterceptor(methods: Set<string>): Interceptor {
  return (next) => async (req) => {
    if (!methods.has(`${req.service.typeName}/${req.method.name}`)) return next(req);
    try {
      if (req.requestMethod === "GET") throw secretOverHttpGet();
      const res = await next(req);
      res.header.set(NO_STORE.name, NO_STORE.value);
      return res;
    } catch (e) {
      // Errors carry no secret, but one rule for every response of the method is easier to trust.
      const err = toConnectError(e);
      err.metadata.set(NO_STORE.name, NO_STORE.value);
      throw err;
    }
  };
}
