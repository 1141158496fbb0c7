import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { OAuthProviderSchema, TokenAuthMethod, type OAuthProvider } from "@engine-cloud/api";

type ProviderData = MessageInitShape<typeof OAuthProviderSchema>;

/**
 * The providers the server knows, as data. Ids are the provider names
 * runtimes already use. Lifetimes and rotation are the providers' published
 * figures (docs: /work/shared/research/oauth-hub.md §3): HubSpot access
 * tokens last 30 min and its refresh tokens do not rotate; Google's last an
 * hour and need access_type=offline and prompt=consent for a refresh token
 * on every connect; Microsoft rotates refresh tokens on every use but does
 * not revoke the old one; Salesforce sends no expires_in (the org's session
 * timeout applies, 2 h by default) and returns instance_url; Slack and GitHub
 * rotate when token rotation / expiring user tokens are on (12 h and 8 h);
 * Zoho serves each data centre from its own host.
 */
const CATALOG: ProviderData[] = [
  {
    id: "github",
    displayName: "GitHub",
    authorizeUrl: "https://github.com/login/oauth/authorize",
    tokenUrl: "https://github.com/login/oauth/access_token",
    defaultScopes: ["repo", "read:user"],
    pkce: true,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    rotatesRefreshTokens: true,
    defaultLifetimeSeconds: 28800,
    issuer: "https://github.com/login/oauth",
  },
  {
    id: "google",
    displayName: "Google",
    authorizeUrl: "https://accounts.google.com/o/oauth2/v2/auth",
    tokenUrl: "https://oauth2.googleapis.com/token",
    revocationUrl: "https://oauth2.googleapis.com/revoke",
    defaultScopes: ["openid", "email", "profile"],
    pkce: true,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    defaultLifetimeSeconds: 3600,
    authorizeParams: { access_type: "offline", prompt: "consent", include_granted_scopes: "true" },
    issuer: "https://accounts.google.com",
    // Revoking the old refresh token revokes the whole grant, the new one included.
    reconnectKeepsOldGrant: true,
  },
  {
    id: "google_calendar",
    displayName: "Google Calendar",
    authorizeUrl: "https://accounts.google.com/o/oauth2/v2/auth",
    tokenUrl: "https://oauth2.googleapis.com/token",
    revocationUrl: "https://oauth2.googleapis.com/revoke",
    defaultScopes: ["openid", "email", "https://www.googleapis.com/auth/calendar"],
    pkce: true,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    defaultLifetimeSeconds: 3600,
    authorizeParams: { access_type: "offline", prompt: "consent", include_granted_scopes: "true" },
    issuer: "https://accounts.google.com",
    // Revoking the old refresh token revokes the whole grant, the new one included.
    reconnectKeepsOldGrant: true,
  },
  {
    id: "hubspot",
    displayName: "HubSpot",
    authorizeUrl: "https://app.hubspot.com/oauth/authorize",
    tokenUrl: "https://api.hubapi.com/oauth/v1/token",
    defaultScopes: ["oauth", "crm.objects.contacts.read"],
    pkce: false,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    defaultLifetimeSeconds: 1800,
    tokenMetadata: ["hub_id"],
    accountIdField: "hub_id",
  },
  {
    id: "microsoft",
    displayName: "Microsoft",
    authorizeUrl: "https://login.microsoftonline.com/{directory}/oauth2/v2.0/authorize",
    tokenUrl: "https://login.microsoftonline.com/{directory}/oauth2/v2.0/token",
    defaultScopes: ["openid", "email", "offline_access", "User.Read"],
    pkce: true,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    rotatesRefreshTokens: true,
    // The old refresh token is not revoked by a rotation; a day is a safe lower bound of its validity.
    rotationGraceSeconds: 86400,
    defaultLifetimeSeconds: 3600,
    urlParameters: ["directory"],
  },
  {
    id: "salesforce",
    displayName: "Salesforce",
    authorizeUrl: "https://{my_domain}.my.salesforce.com/services/oauth2/authorize",
    tokenUrl: "https://{my_domain}.my.salesforce.com/services/oauth2/token",
    revocationUrl: "https://{my_domain}.my.salesforce.com/services/oauth2/revoke",
    defaultScopes: ["api", "refresh_token"],
    pkce: true,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    defaultLifetimeSeconds: 7200,
    tokenMetadata: ["instance_url"],
    accountIdField: "id",
    urlParameters: ["my_domain"],
  },
  {
    id: "slack",
    displayName: "Slack",
    authorizeUrl: "https://slack.com/oauth/v2/authorize",
    tokenUrl: "https://slack.com/api/oauth.v2.access",
    defaultScopes: ["channels:read", "chat:write"],
    scopeSeparator: ",",
    pkce: false,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    rotatesRefreshTokens: true,
    defaultLifetimeSeconds: 43200,
  },
  {
    id: "zoho",
    displayName: "Zoho",
    authorizeUrl: "https://accounts.zoho.{region}/oauth/v2/auth",
    tokenUrl: "https://accounts.zoho.{region}/oauth/v2/token",
    revocationUrl: "https://accounts.zoho.{region}/oauth/v2/token/revoke",
    defaultScopes: ["ZohoCRM.modules.ALL"],
    scopeSeparator: ",",
    pkce: false,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    defaultLifetimeSeconds: 3600,
    authorizeParams: { access_type: "offline", prompt: "consent" },
    tokenMetadata: ["api_domain"],
    urlParameters: ["region"],
  },
];

/** The providers every tenant sees (not its custom ones): the shipped ones and the operator's additions. */
export interface ProviderCatalog {
  find(id: string): OAuthProvider | undefined;
  /** By id. */
  list(): OAuthProvider[];
}

/**
 * The catalog as shipped, with `extra` providers of the operator's (config:
 * hub.extraProviders) — an in-house identity provider, a provider's sandbox;
 * like the shipped ones their apps may be shared with every tenant. An extra
 * provider cannot replace a shipped one.
 */
export function createProviderCatalog(extra: readonly ProviderData[] = []): ProviderCatalog {
  const byId = new Map<string, OAuthProvider>();
  for (const p of [...CATALOG, ...extra]) {
    if (byId.has(p.id!)) throw new Error(`the provider catalog has "${p.id}" twice`);
    byId.set(p.id!, create(OAuthProviderSchema, { ...p, custom: false }));
  }
  const sorted = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  return { find: (id) => byId.get(id), list: () => sorted };
}

export type { ProviderData };
