import { create } from "@bufbuild/protobuf";
import {
  TenantLimitsSchema,
  TenantSchema,
  TenantState,
  type TenantLimits as ProtoTenantLimits,
  type Tenant,
} from "@engine-cloud/api";
import { isLimitName, type LimitName, type TenantLimits } from "../limits/tenant-limits.js";
import type { TenantRow } from "../store/tenants.js";
import { optionalTimestamp as ts, protoEnumMap } from "./enum-map.js";

const tenantStates = protoEnumMap<TenantRow["state"], TenantState>({
  active: TenantState.ACTIVE,
  suspended: TenantState.SUSPENDED,
  deleted: TenantState.DELETED,
});

export function tenantToProto(t: TenantRow): Tenant {
  return create(TenantSchema, {
    id: t.id,
    slug: t.slug,
    displayName: t.display_name,
    state: tenantStates.toProto(t.state),
    createdAt: ts(t.created_at),
    updatedAt: ts(t.updated_at),
    deletedAt: ts(t.deleted_at),
  });
}

/** Limits by name (limits/tenant-limits.ts) as the proto message, whose field names are the limit names. */
export function tenantLimitsToProto(limits: Partial<TenantLimits>): ProtoTenantLimits {
  const init: Record<string, number> = {};
  for (const f of TenantLimitsSchema.fields) {
    const value = isLimitName(f.name) ? limits[f.name] : undefined;
    if (value !== undefined) init[f.localName] = value;
  }
  return create(TenantLimitsSchema, init);
}

/** The limits set in a proto message, by name. */
export function tenantLimitsFromProto(message: ProtoTenantLimits): Partial<Record<LimitName, number>> {
  const out: Partial<Record<LimitName, number>> = {};
  for (const f of TenantLimitsSchema.fields) {
    const value = (message as unknown as Record<string, number | undefined>)[f.localName];
    if (isLimitName(f.name) && value !== undefined) out[f.name] = value;
  }
  return out;
}
