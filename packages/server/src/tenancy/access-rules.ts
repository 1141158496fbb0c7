import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { access } from "@engine-cloud/api/gen/engine/cloud/v1/access_pb.js";
import { isPermission, type Permission } from "../auth/permissions.js";

export type AccessRule =
  { kind: "permission"; permission: Permission } | { kind: "platform" } | { kind: "authenticated" } | { kind: "public" };

/** Services outside our API that grpc tooling expects to call without a credential. */
const PUBLIC_INFRASTRUCTURE = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

export class AccessDeclarationError extends Error {}

/** Reads the rule an RPC declares in the proto; throws for a missing or unknown one. */
export function accessRuleOf(method: DescMethod): AccessRule {
  const service = method.parent.typeName;
  if (PUBLIC_INFRASTRUCTURE.has(service)) return { kind: "public" };
  if (!hasOption(method, access)) {
    throw new AccessDeclarationError(`${service}/${method.name} declares no (engine.cloud.v1.access) option; every RPC must`);
  }
  const rule = getOption(method, access).rule;
  switch (rule.case) {
    case "permission":
      if (!isPermission(rule.value)) {
        throw new AccessDeclarationError(`${service}/${method.name} names unknown permission "${rule.value}"`);
      }
      return { kind: "permission", permission: rule.value };
    case "platform":
    case "authenticated":
    case "public":
      if (rule.value) return { kind: rule.case };
      break;
  }
  throw new AccessDeclarationError(`${service}/${method.name} has an empty (engine.cloud.v1.access) option`);
}

/**
 * The rule of every method of the services served, computed once at start.
 * Any undeclared RPC throws here, so the server refuses to start: access
 * fails closed.
 */
export function buildAccessTable(services: DescService[]): Map<DescMethod, AccessRule> {
  const table = new Map<DescMethod, AccessRule>();
  for (const s of services) for (const m of s.methods) table.set(m, accessRuleOf(m));
  return table;
}
