import type { ColumnType, Generated } from "kysely";

/** Timestamps read as Date and accept Date or ISO strings on write. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type TenantStateColumn = "active" | "suspended" | "deleted";
export type TokenKindColumn = "platform_admin" | "tenant_admin" | "runtime" | "service";
export type ProjectStateColumn = "allowed" | "denied";

export interface ServerSecretsTable {
  name: string;
  value: Uint8Array;
  created_at: Generated<Date>;
}

export interface TenantsTable {
  id: Generated<string>;
  slug: string;
  display_name: string;
  state: ColumnType<TenantStateColumn, TenantStateColumn | undefined, TenantStateColumn>;
  is_operator: ColumnType<boolean, boolean | undefined, boolean>;
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

/** The typed database, one interface per table; written from the migrations. */
export interface Database {
  server_secrets: ServerSecretsTable;
  tenants: TenantsTable;
  tokens: TokensTable;
  projects: ProjectsTable;
}
