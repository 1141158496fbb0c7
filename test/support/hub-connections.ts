import type { CloudClient } from "@engine-cloud/sdk";
import { loopbackOAuthApp, type LoopbackAuthorizationServer } from "./loopback-authorization-server.js";

/** The provider id the loopback authorization server is registered under. */
export const LOOPBACK_PROVIDER = "loopback";

/** Registers the loopback server as the tenant's custom provider, with its OAuth app. */
export async function registerLoopbackApp(admin: CloudClient, auth: LoopbackAuthorizationServer): Promise<void> {
  await admin.oauthApps.setOAuthApp(loopbackOAuthApp(auth, LOOPBACK_PROVIDER));
}

/**
 * Connects `login`'s account through the real flow — StartConnect, the
 * browser's consent at the authorization server, the callback — and returns
 * the connection's id. Fails unless the callback page said 200.
 */
export async function connectLoopbackAccount(
  admin: CloudClient,
  auth: LoopbackAuthorizationServer,
  {
    login,
    alias,
    project = "",
    provider = LOOPBACK_PROVIDER,
  }: { login: string; alias: string; project?: string; provider?: string },
): Promise<string> {
  const started = await admin.connections.startConnect({ provider, alias, project });
  const back = await auth.authorize(started.authorizationUrl, { login });
  const page = await fetch(back, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`the callback for ${login} answered ${page.status}: ${html.slice(0, 300)}`);
  const { flow } = await admin.connections.getConnectFlow({ id: started.flow!.id });
  return flow!.connectionId;
}
