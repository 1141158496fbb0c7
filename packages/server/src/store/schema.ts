import type { ColumnType, Generated, Kysely, Transaction } from "kysely";
import type { AuditDetail } from "@engine-cloud/api/audit-chain.js";

/** Timestamps read as Date and accept Date or ISO strings on write. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type TenantStateColumn = "active" | "suspended" | "deleted";
export type TokenKindColumn = "platform_admin" | "tenant_admin" | "runtime" | "service";
export type ProjectStateColumn = "allowed" | "denied";

export interface ServerSecretsTable {
  name: string;
  /** Sealed under the root key `root_key_id`; plaintext where that is NULL (written before migration 7). */
  value: Uint8Array;
  root_key_id: string | null;
  created_at: Generated<Date>;
  rewrapped_at: NullableTimestamp;
}

export interface TenantsTable {
  id: Generated<string>;
  slug: string;
  display_name: string;
  state: ColumnType<TenantStateColumn, TenantStateColumn | undefined, TenantStateColumn>;
  is_operator: ColumnType<boolean, boolean | undefined, boolean>;
  /** Per-tenant overrides of the configured limits, by limit name (limits/tenant-limits.ts). */
  limits: ColumnType<Record<string, number>, string | undefined, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface TokensTable {
  tenant_id: string;
  id: Generated<string>;
  kind: TokenKindColumn;
  label: string;
  display_prefix: string;
  secret_hash: Uint8Array;
  free_form: ColumnType<boolean, boolean | undefined, boolean>;
  projects: ColumnType<string[], string[] | undefined, string[]>;
  created_at: Timestamp;
  created_by: string;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
}

export interface ProjectsTable {
  tenant_id: string;
  name: string;
  state: ProjectStateColumn;
  created_at: Timestamp;
  updated_at: Timestamp;
  updated_by: string;
}

export interface TenantKeysTable {
  tenant_id: string;
  wrapped_key: Uint8Array;
  root_key_id: string;
  created_at: Timestamp;
  rewrapped_at: NullableTimestamp;
}

export interface TenantRevisionsTable {
  tenant_id: string;
  revision: ColumnType<number, number | undefined, number>;
  retained_from: ColumnType<number, number | undefined, number>;
}

export type CredentialTypeColumn = "oauth2" | "api_key" | "basic" | "generic";
/** Non-secret facts about each key: a listing shows these, never the values. */
export type KeyInfo = Record<string, { expires_at?: string }>;

/** A hub-managed credential's link to its connection, as runtimes see it (Credential.connection). */
export interface ConnectionLinkColumn {
  id: string;
  status: ConnectionStatusColumn;
  status_reason: string;
  status_description: string;
  reauthorize_url: string;
}

export interface CredentialsTable {
  tenant_id: string;
  id: Generated<string>;
  project: string;
  provider: string;
  alias: string;
  type: CredentialTypeColumn;
  identity: ColumnType<Record<string, string>, string, string>;
  metadata: ColumnType<Record<string, string>, string, string>;
  scopes: ColumnType<string[], string[] | undefined, string[]>;
  key_info: ColumnType<KeyInfo, string, string>;
  sealed_keys: Uint8Array | null;
  auto_refresh: ColumnType<boolean, boolean | undefined, boolean>;
  /** Set on a credential the connector hub writes (migration 0012); null otherwise. */
  connection_link: ColumnType<ConnectionLinkColumn | null, string | null | undefined, string | null>;
  version: number;
  revision: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
}

/** A resource kind of the change log (migration 0010). */
export type ChangeKindColumn = "credential" | "project";

/** What a delete message needs once the resource row is gone: a credential's provider and alias. */
export type TombstoneInfo = Record<string, string>;

export interface TenantChangesTable {
  tenant_id: string;
  kind: ChangeKindColumn;
  resource_id: string;
  revision: number;
  /** Visibility: a credential's project ("" for tenant-wide), a project record's own name. */
  project: string;
  /** Set on a delete: the row is then a tombstone. */
  deleted_at: NullableTimestamp;
  tombstone: ColumnType<TombstoneInfo, string | undefined, string>;
}

export type RoleColumn = "owner" | "admin" | "operator" | "builder" | "viewer";

export interface UsersTable {
  id: Generated<string>;
  email: string;
  display_name: string;
  password_hash: string;
  failed_logins: ColumnType<number, number | undefined, number>;
  locked_until: NullableTimestamp;
  disabled_at: NullableTimestamp;
  created_at: Timestamp;
  last_login_at: NullableTimestamp;
  /** A person who may act on the platform RPCs and any tenant, like a platform admin token. */
  platform_admin: ColumnType<boolean, boolean | undefined, boolean>;
  /** When the person proved the address (accepted an emailed invitation, or set up the server). */
  email_verified_at: NullableTimestamp;
}

/** A one-time code that creates the first platform administrator person (AuthService.CompleteSetup). */
export interface SetupCodesTable {
  id: Generated<string>;
  code_hash: Uint8Array;
  created_at: Generated<Date>;
  expires_at: Date;
  /** Used, or replaced by a newer code. */
  ended_at: NullableTimestamp;
}

export interface MembershipsTable {
  tenant_id: string;
  user_id: string;
  role: RoleColumn;
  created_at: Timestamp;
  created_by: string;
}

export interface SessionsTable {
  tenant_id: string;
  id: Generated<string>;
  user_id: string;
  secret_hash: Uint8Array;
  display_prefix: string;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  idle_expires_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: NullableTimestamp;
}

export interface InvitationsTable {
  tenant_id: string;
  id: Generated<string>;
  email: string;
  role: RoleColumn;
  code_hash: Uint8Array;
  created_at: Timestamp;
  created_by: string;
  expires_at: Timestamp;
  accepted_at: NullableTimestamp;
  accepted_by: string | null;
  revoked_at: NullableTimestamp;
  revoked_by: ColumnType<string | null, string | null | undefined, string | null>;
  delivery: ColumnType<InvitationDeliveryColumn, InvitationDeliveryColumn | undefined, InvitationDeliveryColumn>;
  email_sent_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  email_error: ColumnType<string | null, string | null | undefined, string | null>;
}

/** How an invitation's code reached the person: returned to the inviter, or mailed by the server. */
export type InvitationDeliveryColumn = "link" | "email";

export interface ServerInstancesTable {
  id: string;
  started_at: Generated<Date>;
  heartbeat_at: Timestamp;
}

export interface LimitCountersTable {
  key: string;
  total: number;
  updated_at: Generated<Date>;
}

export interface StreamCountsTable {
  instance_id: string;
  key: string;
  count: number;
}

export interface LoginLockoutsTable {
  key: string;
  failures: number;
  free_failures: number;
  forgive_ms: number;
  struck_at: Timestamp;
  locked_until: NullableTimestamp;
}

export interface LeasesTable {
  kind: string;
  key: string;
  /** Who holds it; NULL once released. */
  holder: string | null;
  /** One more on every claim, never reused (fencing). */
  generation: number;
  expires_at: Timestamp;
  claimed_at: Generated<Date>;
}

/** A tenant's custom provider as oauth_apps.custom_provider stores it: the OAuthProvider fields (hub/provider-catalog.ts). */
export type CustomProviderColumn = Record<string, unknown>;

export interface OAuthAppsTable {
  tenant_id: string;
  id: Generated<string>;
  provider: string;
  client_id: string;
  sealed_secret: Uint8Array | null;
  scopes: ColumnType<string[], string[] | undefined, string[]>;
  shared: ColumnType<boolean, boolean | undefined, boolean>;
  custom_provider: ColumnType<CustomProviderColumn | null, string | null, string | null>;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
}

export type OAuthFlowStatusColumn = "pending" | "exchanging" | "completed" | "failed";

export interface OAuthFlowsTable {
  tenant_id: string;
  id: Generated<string>;
  state_hash: Uint8Array;
  provider: string;
  project: string;
  alias: string;
  redirect_uri: string;
  sealed_verifier: Uint8Array | null;
  url_parameters: ColumnType<Record<string, string>, string | undefined, string>;
  status: OAuthFlowStatusColumn;
  error: ColumnType<string, string | undefined, string>;
  error_description: ColumnType<string, string | undefined, string>;
  connection_id: string | null;
  created_at: Timestamp;
  created_by: string;
  expires_at: Timestamp;
  finished_at: NullableTimestamp;
}

export type ConnectionStatusColumn = "active" | "degraded" | "stale" | "needs_reauth" | "disconnected";

export interface ConnectionsTable {
  tenant_id: string;
  id: Generated<string>;
  provider: string;
  project: string;
  alias: string;
  external_account: string;
  status: ConnectionStatusColumn;
  status_reason: ColumnType<string, string | undefined, string>;
  status_description: ColumnType<string, string | undefined, string>;
  scopes: ColumnType<string[], string[] | undefined, string[]>;
  metadata: ColumnType<Record<string, string>, string | undefined, string>;
  url_parameters: ColumnType<Record<string, string>, string | undefined, string>;
  sealed_tokens: Uint8Array | null;
  shared_app: ColumnType<boolean, boolean | undefined, boolean>;
  access_expires_at: NullableTimestamp;
  last_refresh_at: NullableTimestamp;
  next_refresh_at: NullableTimestamp;
  generation: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
  // The refresh engine's per-connection lease and attempt marker (migration 0012).
  refresh_holder: string | null;
  refresh_lease_until: NullableTimestamp;
  refresh_lease_generation: ColumnType<number, number | undefined, number>;
  refresh_attempt_id: string | null;
  refresh_attempt_at: NullableTimestamp;
  refresh_failures: ColumnType<number, number | undefined, number>;
  last_forced_refresh_at: NullableTimestamp;
}

export interface RuntimePresenceTable {
  tenant_id: string;
  stream_id: string;
  principal_kind: "token" | "user";
  principal_id: string;
  principal_label: string;
  project: string;
  runtime_id: string;
  name: string;
  version: string;
  host: string;
  sdk: string;
  sdk_version: string;
  language: string;
  server_instance: string;
  connected_at: ColumnType<Date, Date | string, Date | string>;
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
  stale_at: ColumnType<Date, Date | string, Date | string>;
  disconnected_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  revision_delivered: ColumnType<number, number | undefined, number>;
}

/** One chain's head (migration 14): its last sequence number and hash. `chain` is the tenant id, or "platform". */
export interface AuditHeadsTable {
  chain: string;
  tenant_id: string | null;
  seq: number;
  hash: Uint8Array;
}

export interface AuditEventsTable {
  chain: string;
  seq: number;
  tenant_id: string | null;
  at: Timestamp;
  /** The typed Actor (store/actor.ts) as JSON. */
  actor: ColumnType<Record<string, string>, string, string>;
  request_id: string;
  peer: string;
  user_agent: string;
  action: string;
  target: string;
  /** "ok", or the wire name of the error reason the call failed with. */
  outcome: string;
  detail: ColumnType<AuditDetail, string, string>;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

/** A signed chain head (store/audit-log.ts, crypto/audit-signer.ts). */
export interface AuditCheckpointsTable {
  chain: string;
  seq: number;
  tenant_id: string | null;
  hash: Uint8Array;
  at: Timestamp;
  key_id: string;
  signature: Uint8Array;
}

/** The typed database, one interface per table; written from the migrations. */
export interface Database {
  server_secrets: ServerSecretsTable;
  tenants: TenantsTable;
  tokens: TokensTable;
  runtime_presence: RuntimePresenceTable;
  projects: ProjectsTable;
  tenant_keys: TenantKeysTable;
  tenant_revisions: TenantRevisionsTable;
  credentials: CredentialsTable;
  tenant_changes: TenantChangesTable;
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  invitations: InvitationsTable;
  setup_codes: SetupCodesTable;
  server_instances: ServerInstancesTable;
  limit_counters: LimitCountersTable;
  stream_counts: StreamCountsTable;
  login_lockouts: LoginLockoutsTable;
  leases: LeasesTable;
  oauth_apps: OAuthAppsTable;
  oauth_flows: OAuthFlowsTable;
  connections: ConnectionsTable;
  audit_heads: AuditHeadsTable;
  audit_events: AuditEventsTable;
  audit_checkpoints: AuditCheckpointsTable;
}

/** A transaction on the database: what store functions that must run inside one take. */
export type Tx = Transaction<Database>;
/** The database or a transaction on it: what store functions that may run either way take. */
export type Executor = Kysely<Database> | Tx;
