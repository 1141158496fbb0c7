// oidc-provider ships no types; the loopback authorization server uses this much of it.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    // Models, for minting a grant without the browser (mintGrant): each saved one resolves to its value or id.
    Client: { find(id: string): Promise<unknown> };
    Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
    RefreshToken: new (init: Record<string, unknown>) => { save(): Promise<string> };
    AccessToken: new (init: Record<string, unknown>) => { expiration: number; save(): Promise<string> };
  }
}
