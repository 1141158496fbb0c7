import { create, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { Path } from "@bufbuild/protobuf/reflect";
import { FeatureSet_FieldPresence, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createValidator } from "@bufbuild/protovalidate";

/**
 * What to put in a string (or repeated string) field, chosen by the field's
 * proto name; undefined leaves the field to the generic candidates.
 */
export type FieldValueRule = (field: DescField) => string | undefined;

/**
 * Builds a request for any method from its descriptor alone, so a method added
 * to the API is exercised without anyone writing its request by hand.
 *
 * Fields the rule names get its value first; every other field starts empty.
 * The message is then checked against its own buf.validate rules, and each
 * field still in violation moves on to its next candidate value until the
 * message is valid. A field no candidate satisfies throws, naming the field:
 * a test that cannot build a valid request fails rather than silently testing
 * the validator instead of the RPC.
 */
export function buildValidRequest(schema: DescMessage, rule: FieldValueRule): Message {
  return build(schema, rule, 0);
}

/** Nested messages deeper than this are left unset (recursive types such as Struct never end). */
const MAX_DEPTH = 4;
const validator = createValidator();

function build(schema: DescMessage, rule: FieldValueRule, depth: number): Message {
  const options = new Map(schema.fields.map((f) => [f, candidatesFor(f, rule, depth)]));
  const chosen = new Map(schema.fields.map((f) => [f, 0]));
  const MAX_ROUNDS = 200;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const message = create(schema, initOf(schema, options, chosen));
    const result = validator.validate(schema, message);
    if (result.kind === "valid") return message;
    if (result.kind === "error") throw result.error;
    const violation = result.violations[0];
    const field = violatingField(schema, violation.field[0]);
    if (!field) {
      throw new Error(`no request builder rule for ${schema.typeName}: a message-level rule failed (${violation.message})`);
    }
    const next = chosen.get(field)! + 1;
    if (next >= options.get(field)!.length) {
      throw new Error(
        `no request builder rule can fill ${schema.typeName}.${field.name} validly (${violation.message}); ` +
          `teach test/support/request-builder.ts a candidate for it`,
      );
    }
    chosen.set(field, next);
  }
  throw new Error(`no request builder rule settles ${schema.typeName} within ${MAX_ROUNDS} rounds`);
}

/** The top-level field a violation is about; for a required oneof, its first member. */
function violatingField(schema: DescMessage, head: Path[number] | undefined): DescField | undefined {
  if (head?.kind === "field") return schema.fields.find((f) => f === head);
  if (head?.kind === "oneof") return head.fields[0];
  return undefined;
}

function initOf(schema: DescMessage, options: Map<DescField, unknown[]>, chosen: Map<DescField, number>) {
  const init: Record<string, unknown> = {};
  for (const field of schema.fields) {
    const value = options.get(field)![chosen.get(field)!];
    if (value === undefined) continue;
    if (field.oneof) init[field.oneof.localName] = { case: field.localName, value };
    else init[field.localName] = value;
  }
  return init;
}

const FUTURE = () => timestampFromDate(new Date(Date.now() + 24 * 3600_000));
const PAST = () => timestampFromDate(new Date(Date.now() - 24 * 3600_000));
const GENERIC_STRINGS = ["", "a1", "a", "ab", "00000000-0000-4000-8000-000000000000", "a1@example.com", "https://example.com/a"];

/** Candidate values of one field, the preferred first; `undefined` means "leave unset". */
function candidatesFor(field: DescField, rule: FieldValueRule, depth: number): unknown[] {
  const preferred = rule(field);
  switch (field.fieldKind) {
    case "scalar": {
      const named = field.scalar === ScalarType.STRING && preferred !== undefined;
      const values = named ? unique([preferred, ...GENERIC_STRINGS]) : scalarCandidates(field.scalar, field.longAsString);
      // A field with presence (oneof member, proto3 `optional`) is left unset unless the rule names a value for
      // it: unset usually means "no condition" (e.g. no expected version).
      if (!field.oneof && field.presence !== FeatureSet_FieldPresence.EXPLICIT) return values;
      return named ? [values[0], undefined, ...values.slice(1)] : [undefined, ...values];
    }
    case "enum":
      return [field.oneof ? undefined : 0, ...field.enum.values.map((v) => v.number).filter((n) => n !== 0)];
    case "message":
      return [undefined, ...messageCandidates(field.message, rule, depth)];
    case "list": {
      const items =
        field.listKind === "scalar"
          ? scalarCandidates(field.scalar, field.longAsString).slice(1)
          : field.listKind === "enum"
            ? field.enum.values.map((v) => v.number).filter((n) => n !== 0)
            : messageCandidates(field.message, rule, depth);
      const first = preferred !== undefined && field.listKind === "scalar" ? [[preferred]] : [];
      return [...first, [], ...items.map((item) => [item])];
    }
    case "map": {
      const values =
        field.mapKind === "scalar"
          ? scalarCandidates(field.scalar, false)
          : field.mapKind === "enum"
            ? field.enum.values.map((v) => v.number)
            : messageCandidates(field.message, rule, depth);
      const keys = field.mapKey === ScalarType.STRING ? ["k", "a1"] : [1];
      return [{}, ...keys.flatMap((k) => values.map((v) => ({ [String(k)]: v })))];
    }
  }
}

function scalarCandidates(scalar: ScalarType, longAsString: boolean): unknown[] {
  switch (scalar) {
    case ScalarType.STRING:
      return GENERIC_STRINGS;
    case ScalarType.BOOL:
      return [false, true];
    case ScalarType.BYTES:
      return [new Uint8Array(), new Uint8Array([1])];
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return longAsString ? ["0", "1", "100"] : [0n, 1n, 100n];
    default:
      return [0, 1, 100];
  }
}

function messageCandidates(message: DescMessage, rule: FieldValueRule, depth: number): unknown[] {
  if (message.typeName === "google.protobuf.Timestamp") return [FUTURE(), PAST()];
  if (depth >= MAX_DEPTH) return [];
  try {
    return [build(message, rule, depth + 1)];
  } catch {
    // The parent may not need this field at all; if it does, its own check names it.
    return [];
  }
}

const unique = <T>(xs: T[]) => [...new Set(xs)];
