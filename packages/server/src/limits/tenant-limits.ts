/**
 * The limits every tenant runs under: a default for each from the config
 * (ENGINE_CLOUD_LIMIT_<NAME>), and per tenant an override a platform
 * administrator set (TenantService.SetTenantLimits). The names are the field
 * names of engine.cloud.v1.TenantLimits, so config, API and CLI say the same.
 *
 * Message sizes are not here: one global bound (the transport's) applies to
 * every tenant alike.
 */
export const LIMIT_NAMES = [
  "token_requests_per_second",
  "tenant_requests_per_second",
  "token_streams",
  "tenant_streams",
  "tenant_credentials",
  "tenant_connections",
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];
export type TenantLimits = Record<LimitName, number>;

/**
 * Generous: a tenant meets them only when something is wrong (a runaway
 * loop, a leak of streams). Tests and operators set lower ones.
 */
export const DEFAULT_LIMITS: TenantLimits = {
  token_requests_per_second: 1_000,
  tenant_requests_per_second: 5_000,
  token_streams: 1_000,
  tenant_streams: 10_000,
  tenant_credentials: 100_000,
  // Seat for the OAuth connection hub; stored connections do not exist yet, so nothing counts against it.
  tenant_connections: 10_000,
};

/** Above any sane setting; keeps a typo (an extra zero or ten) from overflowing arithmetic. */
export const MAX_LIMIT = 1_000_000_000;

export function isLimitName(name: string): name is LimitName {
  return (LIMIT_NAMES as readonly string[]).includes(name);
}

/** A limit is a whole number from 1 to MAX_LIMIT. */
export function isLimitValue(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_LIMIT;
}

/** The stored overrides that still name a known limit with a valid value; anything else is ignored. */
export function overridesOf(stored: Record<string, unknown> | null | undefined): Partial<TenantLimits> {
  const out: Partial<TenantLimits> = {};
  for (const [name, value] of Object.entries(stored ?? {})) {
    if (isLimitName(name) && isLimitValue(value)) out[name] = value;
  }
  return out;
}

export function effectiveLimits(defaults: TenantLimits, overrides: Partial<TenantLimits>): TenantLimits {
  return { ...defaults, ...overrides };
}

/** A tenant's effective limits, by id. */
export type LimitsOf = (tenantId: string) => Promise<TenantLimits>;

/**
 * Effective limits from the tenant directory's cached rows (kept current by
 * the change feed, so an override holds on the next request everywhere),
 * computed once per row read.
 */
export function createLimitsLookup(
  defaults: TenantLimits,
  findTenant: (id: string) => Promise<{ limits: Record<string, unknown> } | undefined>,
): LimitsOf {
  const computed = new WeakMap<object, TenantLimits>();
  return async (tenantId) => {
    const row = await findTenant(tenantId);
    if (!row) return defaults;
    let limits = computed.get(row);
    if (!limits) computed.set(row, (limits = effectiveLimits(defaults, overridesOf(row.limits))));
    return limits;
  };
}
