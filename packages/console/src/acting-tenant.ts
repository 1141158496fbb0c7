import { TENANT_HEADER } from "@engine-cloud/api";
import type { Interceptor } from "@connectrpc/connect";
import { useSyncExternalStore } from "react";

/**
 * For platform administrators: the tenant the console acts in, sent as the engine-tenant header on every call
 * (as `engine-cloud --tenant` does); empty means the session's own tenant. Kept in memory only: a reload goes
 * back to the session's tenant, so nobody acts in another tenant without having chosen to in this page.
 */
let actingTenant = "";
const listeners = new Set<() => void>();

export function setActingTenant(slug: string): void {
  actingTenant = slug;
  for (const l of listeners) l();
}

export function useActingTenant(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => actingTenant,
  );
}

export const actingTenantInterceptor: Interceptor = (next) => (req) => {
  if (actingTenant) req.header.set(TENANT_HEADER, actingTenant);
  return next(req);
};
