import { ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { findIllFormedText } from "../well-formed-text.js";

/** A string field that cannot be stored or compared as text: where it is, and what is wrong with it. */
export interface IllFormedString {
  /** The field's path in proto names, as protovalidate writes it: `labels["k"]`, `items[0].name`. */
  field: string;
  problem: string;
}

/**
 * The first string anywhere in `message` (any field, repeated, map key or value, nested
 * message, oneof) that holds a NUL character or an unpaired surrogate, found from the
 * descriptors alone, so an RPC added later is covered without anyone writing a rule.
 * (Why such text is refused: well-formed-text.ts. A NUL used to reach PostgreSQL and
 * come back as INTERNAL.)
 */
export function findIllFormedString(schema: DescMessage, message: Message): IllFormedString | undefined {
  return visit(schema, message as unknown as Record<string, unknown>, "");
}

function visit(schema: DescMessage, message: Record<string, unknown>, prefix: string): IllFormedString | undefined {
  if (!mayHoldStrings(schema)) return undefined;
  for (const field of schema.fields) {
    const value = valueOf(field, message);
    if (value === undefined) continue;
    const path = prefix + field.name;
    const found = visitField(field, value, path);
    if (found) return found;
  }
  return undefined;
}

function visitField(field: DescField, value: unknown, path: string): IllFormedString | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return field.scalar === ScalarType.STRING ? checkString(value as string, path) : undefined;
    case "message":
      return visit(field.message, value as Record<string, unknown>, `${path}.`);
    case "list": {
      const items = value as unknown[];
      for (let i = 0; i < items.length; i++) {
        const found =
          field.listKind === "scalar"
            ? field.scalar === ScalarType.STRING
              ? checkString(items[i] as string, `${path}[${i}]`)
              : undefined
            : field.listKind === "message"
              ? visit(field.message, items[i] as Record<string, unknown>, `${path}[${i}].`)
              : undefined;
        if (found) return found;
      }
      return undefined;
    }
    case "map":
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        // Escaped (a NUL never reaches the message) and cut short: a key is the caller's text.
        const at = `${path}[${JSON.stringify(key.slice(0, 64))}]`;
        const found =
          (field.mapKey === ScalarType.STRING ? checkString(key, at) : undefined) ??
          (field.mapKind === "scalar" && field.scalar === ScalarType.STRING
            ? checkString(item as string, at)
            : field.mapKind === "message"
              ? visit(field.message, item as Record<string, unknown>, `${at}.`)
              : undefined);
        if (found) return found;
      }
      return undefined;
    case "enum":
      return undefined;
  }
}

/** The field's value in a protobuf-es message (a oneof member only when it is the case set). */
function valueOf(field: DescField, message: Record<string, unknown>): unknown {
  if (!field.oneof) return message[field.localName] ?? undefined;
  const oneof = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
  return oneof?.case === field.localName ? oneof.value : undefined;
}

function checkString(value: string, field: string): IllFormedString | undefined {
  const problem = findIllFormedText(value);
  return problem === undefined ? undefined : { field, problem };
}

const holdsStrings = new WeakMap<DescMessage, boolean>();

/** Whether any field of the schema, at any depth, is a string: most small messages are skipped at once. */
function mayHoldStrings(schema: DescMessage, seen = new Set<DescMessage>()): boolean {
  const known = holdsStrings.get(schema);
  if (known !== undefined) return known;
  // A recursive type (Struct, Value) meets itself: assume strings until the walk says otherwise.
  if (seen.has(schema)) return true;
  seen.add(schema);
  const result = schema.fields.some((f) => {
    if (f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar")) return f.scalar === ScalarType.STRING;
    if (f.fieldKind === "map")
      return (
        f.mapKey === ScalarType.STRING ||
        (f.mapKind === "scalar" ? f.scalar === ScalarType.STRING : f.mapKind === "message" && mayHoldStrings(f.message, seen))
      );
    if (f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) return mayHoldStrings(f.message, seen);
    return false;
  });
  holdsStrings.set(schema, result);
  return result;
}
