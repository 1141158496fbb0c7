import { Role } from "@engine-cloud/api";

/** The roles a person can be given, most powerful first, as people read them. */
export const roleOptions = [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.BUILDER, Role.VIEWER].map((value) => ({
  value,
  label: Role[value].toLowerCase(),
}));

export function roleName(role: Role): string {
  return Role[role]?.toLowerCase() ?? "—";
}
