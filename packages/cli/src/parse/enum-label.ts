import type { DescEnum } from "@bufbuild/protobuf";

/**
 * The CLI's word for an enum value: the proto name without its shared prefix, in kebab case
 * (TOKEN_KIND_TENANT_ADMIN → "tenant-admin"). Deriving it from the schema keeps the CLI in step with the API.
 */
export function enumLabel(schema: DescEnum, value: number): string {
  const desc = schema.value[value];
  return desc ? desc.localName.toLowerCase().replaceAll("_", "-") : String(value);
}

/** The words a user may type for an enum, leaving out its UNSPECIFIED zero value. */
export function enumLabels(schema: DescEnum): string[] {
  return schema.values.filter((v) => v.number !== 0).map((v) => enumLabel(schema, v.number));
}

/** The enum value a user's word names, or undefined. */
export function parseEnumLabel(schema: DescEnum, label: string): number | undefined {
  return schema.values.find((v) => v.number !== 0 && enumLabel(schema, v.number) === label)?.number;
}
