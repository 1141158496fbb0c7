import { createConnectQueryKey } from "@connectrpc/connect-query";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "@engine-cloud/api";
import { createCloudWebTransport } from "@engine-cloud/sdk";
import { actingTenantInterceptor, setActingTenant } from "./acting-tenant.js";
import { hashKey, MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";

/**
 * The console talks Connect to its own origin and nothing else: no token in JavaScript. The session is the
 * HttpOnly cookie that Login/CompleteSetup set with `browser_session`, which the browser sends on same-origin
 * fetches and the server accepts only there (Sec-Fetch-Site: same-origin).
 */
export const consoleTransport = createCloudWebTransport({
  baseUrl: window.location.origin,
  interceptors: [actingTenantInterceptor],
});

/** Acts in another tenant (platform administrators) or back in the session's own (""), reloading every page's data. */
export function actIn(slug: string): void {
  setActingTenant(slug);
  void consoleQueryClient.resetQueries();
}

/** A plain client, for what hooks do not fit: streams (live tail, export) and one-off calls. */
export function consoleClient<S extends DescService>(service: S) {
  return createClient(service, consoleTransport);
}

export const whoAmIKey = createConnectQueryKey({
  schema: AuthService.method.whoAmI,
  transport: consoleTransport,
  input: {},
  cardinality: "finite",
});

function isSessionGone(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated;
}

/**
 * A session that ends (idle or absolute expiry, revoked elsewhere) surfaces on whatever call comes next; then
 * WhoAmI is asked again, so the shell shows the sign-in page instead of a page of errors. A change that worked
 * refreshes every list on screen, and WhoAmI with them: it carries the session's idle expiry, which the change
 * just pushed back.
 */
export const consoleQueryClient: QueryClient = new QueryClient({
  defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false, staleTime: 5_000 } },
  queryCache: new QueryCache({
    onError: (err, query) => {
      if (isSessionGone(err) && query.queryHash !== hashKey(whoAmIKey)) void refreshWhoAmI();
    },
  }),
  mutationCache: new MutationCache({
    onSuccess: () => consoleQueryClient.invalidateQueries(),
    onError: (err) => (isSessionGone(err) ? refreshWhoAmI() : undefined),
  }),
});

export function refreshWhoAmI(): Promise<void> {
  return consoleQueryClient.invalidateQueries({ queryKey: whoAmIKey });
}
