import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { audit, secret_bearing } from "@engine-cloud/api";

/** What the audit log records of an RPC, as its proto declares it. */
export type AuditRule = { kind: "action"; action: string } | { kind: "not_audited"; why: string };

/** The one reason an RPC may record nothing. */
export const READ_WITHOUT_SECRET = "read without secret";

const ACTION_SHAPE = /^[a-z][a-z_]*\.[a-z][a-z_]*$/;

export class AuditDeclarationError extends Error {}

/**
 * Reads the audit rule an RPC declares; throws when it has none, or when an
 * RPC that changes something (not NO_SIDE_EFFECTS) or returns a secret
 * (secret_bearing) declares none but "not audited". Like the access rule, the
 * declaration lives in the proto next to the RPC, so a new RPC cannot be
 * added without deciding what its audit event is.
 */
export function auditRuleOf(method: DescMethod): AuditRule {
  const name = `${method.parent.typeName}/${method.name}`;
  if (!hasOption(method, audit)) {
    throw new AuditDeclarationError(`${name} declares no (engine.cloud.v1.audit) option; every RPC must`);
  }
  const rule = getOption(method, audit).rule;
  const readOnly = method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
  const secret = getOption(method, secret_bearing);
  switch (rule.case) {
    case "action":
      if (!ACTION_SHAPE.test(rule.value)) throw new AuditDeclarationError(`${name} names malformed action "${rule.value}"`);
      return { kind: "action", action: rule.value };
    case "notAudited":
      if (rule.value !== READ_WITHOUT_SECRET) {
        throw new AuditDeclarationError(`${name}: "not audited" must say "${READ_WITHOUT_SECRET}", not "${rule.value}"`);
      }
      if (!readOnly || secret) {
        throw new AuditDeclarationError(
          `${name} ${secret ? "returns secrets" : "is not NO_SIDE_EFFECTS"} and so must declare an audit action`,
        );
      }
      return { kind: "not_audited", why: rule.value };
    default:
      throw new AuditDeclarationError(`${name} has an empty (engine.cloud.v1.audit) option`);
  }
}

/** Every method's audit rule; throws for the first RPC that has none it may have. */
export function buildAuditTable(services: DescService[]): Map<DescMethod, AuditRule> {
  const table = new Map<DescMethod, AuditRule>();
  for (const s of services) for (const m of s.methods) table.set(m, auditRuleOf(m));
  return table;
}
