import { gzipSync } from "node:zlib";
import {
  create,
  ScalarType,
  toBinary,
  toJson,
  toJsonString,
  type DescField,
  type DescMessage,
  type DescMethod,
  type Message,
} from "@bufbuild/protobuf";
import { TENANT_HEADER } from "@engine-cloud/api";
import fc from "fast-check";
import { envelope, isEnveloped, protocolHeaders, WIRE_PROTOCOLS, type WireProtocol, type WireRequest } from "./wire-call.js";

/**
 * Generated requests for any RPC, from its input descriptor alone: valid
 * ones, valid ones with a field or two replaced, random ones, bytes and JSON
 * that are not a message at all, and envelopes that lie about their own
 * framing. Everything is drawn by fast-check, so one seed gives one sequence.
 */

/** Who makes the call: the Authorization header and the tenant header it sends (both optional). */
export interface FuzzPrincipal {
  name: string;
  authorization?: string;
  /** Principals that may name a tenant (people, admin tokens) get tenant headers drawn for them. */
  namesTenant: boolean;
  /** RPCs that would end this very credential (Logout of a session): called without it instead. */
  spares?: string[];
}

export interface FuzzContext {
  methods: DescMethod[];
  principals: FuzzPrincipal[];
  /** Valid requests of each method, built beforehand (test/support/request-builder.ts). */
  validRequests: Map<DescMethod, Message[]>;
  /** Values worth trying in any string field: the other tenant's ids and names, this one's, the tenant slugs. */
  interestingStrings: string[];
  tenantSlugs: string[];
}

export interface FuzzInput {
  method: DescMethod;
  protocol: WireProtocol;
  principal: string;
  /** What the body is ("valid", "mutated", "random", "bytes", "frame:<how>", …), for the findings. */
  kind: string;
  request: WireRequest;
  /** The request's headers and body, so a reply echoing back what was sent is not taken for a leak. */
  sent: Buffer[];
  /** A short rendering of the input for the findings. */
  shown: string;
}

const LONG = "x".repeat(70_000);
/** Strings that have broken parsers, databases and logs before. */
export const EDGE_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff",
  "a\ud83db",
  "\u202egnp.exe",
  "\u200f\u200e",
  "\ufeff",
  "\r\n",
  "é",
  "🙂".repeat(40),
  "ß".repeat(300),
  "A".repeat(101),
  "a".repeat(256),
  LONG,
  "-1",
  "0",
  "18446744073709551616",
  "../../etc/passwd",
  "%00",
  "' OR '1'='1",
  "\\",
  '"',
  "*",
  "null",
  "<script>",
  "default",
];

const INVALID_UTF8 = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]].map((b) =>
  Uint8Array.from(b),
);

const stringArbs = new WeakMap<FuzzContext, fc.Arbitrary<string>>();

/** Built once per context: fast-check's grapheme strings cost milliseconds to set up. */
function stringArb(ctx: FuzzContext): fc.Arbitrary<string> {
  let arb = stringArbs.get(ctx);
  if (!arb) stringArbs.set(ctx, (arb = newStringArb(ctx)));
  return arb;
}

function newStringArb(ctx: FuzzContext): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.interestingStrings) },
    { weight: 3, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/) },
  );
}

const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const UINT64 = { min: 0n, max: 2n ** 64n - 1n };

function scalarArb(ctx: FuzzContext, scalar: ScalarType, longAsString: boolean): fc.Arbitrary<unknown> {
  const long = (range: { min: bigint; max: bigint }) => {
    const arb = fc.oneof(fc.bigInt(range), fc.constantFrom(0n, 1n, range.min, range.max));
    return longAsString ? arb.map(String) : arb;
  };
  switch (scalar) {
    case ScalarType.STRING:
      return stringArb(ctx);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 48 });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(INT64);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(UINT64);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff));
    case ScalarType.FLOAT:
      return fc.float();
    case ScalarType.DOUBLE:
      return fc.double();
    default:
      return fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)));
  }
}

const fieldArbs = new Map<string, fc.Arbitrary<unknown>>();

/** Random field values as protobuf-es holds them (messages already created); built once per field and depth. */
function fieldArb(ctx: FuzzContext, field: DescField, depth: number): fc.Arbitrary<unknown> {
  const key = `${field.parent.typeName}.${field.name}@${depth}`;
  let arb = fieldArbs.get(key);
  if (!arb) fieldArbs.set(key, (arb = newFieldArb(ctx, field, depth)));
  return arb;
}

function newFieldArb(ctx: FuzzContext, field: DescField, depth: number): fc.Arbitrary<unknown> {
  const enumArb = (values: number[]) => fc.oneof(fc.constantFrom(...values), fc.integer({ min: -3, max: 1000 }));
  switch (field.fieldKind) {
    case "scalar":
      return scalarArb(ctx, field.scalar, field.longAsString);
    case "enum":
      return enumArb(field.enum.values.map((v) => v.number));
    case "message":
      return messageArb(ctx, field.message, depth + 1);
    case "list": {
      const item =
        field.listKind === "scalar"
          ? scalarArb(ctx, field.scalar, field.longAsString)
          : field.listKind === "enum"
            ? enumArb(field.enum.values.map((v) => v.number))
            : messageArb(ctx, field.message, depth + 1);
      return fc.array(item, { maxLength: 4 });
    }
    case "map": {
      const value =
        field.mapKind === "scalar"
          ? scalarArb(ctx, field.scalar, false)
          : field.mapKind === "enum"
            ? enumArb(field.enum.values.map((v) => v.number))
            : messageArb(ctx, field.message, depth + 1);
      const key = field.mapKey === ScalarType.STRING ? stringArb(ctx) : fc.integer({ min: 0, max: 1000 }).map(String);
      return fc.dictionary(key, value, { maxKeys: 3 });
    }
  }
}

const MAX_DEPTH = 2;
const messageArbs = new Map<string, fc.Arbitrary<Message>>();

/** A random message of `schema`: every field set or not, any value of its type. */
function messageArb(ctx: FuzzContext, schema: DescMessage, depth = 0): fc.Arbitrary<Message> {
  if (depth > MAX_DEPTH) return fc.constant(create(schema));
  const key = `${schema.typeName}@${depth}`;
  const known = messageArbs.get(key);
  if (known) return known;
  const plain = schema.fields.filter((f) => !f.oneof);
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of plain) parts[f.localName] = fc.option(fieldArb(ctx, f, depth), { nil: undefined, freq: 2 });
  for (const oneof of schema.oneofs) {
    parts[oneof.localName] = fc.option(
      fc.oneof(...oneof.fields.map((f) => fieldArb(ctx, f, depth).map((value) => ({ case: f.localName, value })))),
      { nil: undefined },
    );
  }
  const arb = fc
    .record(parts, { requiredKeys: [] })
    .map((init) => create(schema, Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined))));
  messageArbs.set(key, arb);
  return arb;
}

/** A valid request with one to three fields replaced by random values of their type. */
function mutatedArb(ctx: FuzzContext, method: DescMethod, bases: Message[]): fc.Arbitrary<Message> {
  const fields = method.input.fields;
  if (fields.length === 0) return fc.constantFrom(...bases);
  const replacement = fc.constantFrom(...fields).chain((f) => fieldArb(ctx, f, 0).map((value) => [f, value] as const));
  return fc.tuple(fc.constantFrom(...bases), fc.array(replacement, { minLength: 1, maxLength: 3 })).map(([base, changes]) => {
    const init: Record<string, unknown> = { ...base };
    for (const [f, value] of changes) {
      if (f.oneof) init[f.oneof.localName] = { case: f.localName, value };
      else init[f.localName] = value;
    }
    return init as Message;
  });
}

/** The message in the codec of `protocol`; undefined when protobuf-es refuses to encode the values drawn. */
function encode(protocol: WireProtocol, schema: DescMessage, message: Message): Uint8Array | undefined {
  try {
    return protocol === "connect-json" ? Buffer.from(toJsonString(schema, message)) : toBinary(schema, message);
  } catch {
    return undefined;
  }
}

const varint = (n: number) => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
};

/** Binary that is not quite the message: what a broken or hostile encoder sends. */
function corruptBinaryArb(method: DescMethod): fc.Arbitrary<{ how: string; bytes: (valid: Uint8Array) => Uint8Array }> {
  const stringFields = method.input.fields.filter((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING);
  const numbers = method.input.fields.map((f) => f.number);
  const fieldNumber = numbers.length
    ? fc.oneof(fc.constantFrom(...numbers), fc.integer({ min: 1, max: 536870911 }))
    : fc.integer({ min: 1, max: 2000 });
  const concat = (...parts: Array<Uint8Array | number[]>) => Buffer.concat(parts.map((p) => Buffer.from(p)));
  return fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((random) => ({ how: "random bytes", bytes: () => random })),
    fc.nat().map((cut) => ({ how: "truncated", bytes: (v: Uint8Array) => v.subarray(0, v.length ? cut % v.length : 0) })),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => ({
      how: "byte flipped",
      bytes: (v: Uint8Array) => {
        const c = Uint8Array.from(v.length ? v : [0]);
        c[at % c.length] ^= xor;
        return c;
      },
    })),
    fc.tuple(fieldNumber, fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 12 })).map(([n, wire, payload]) => ({
      how: `field ${n} wire type ${wire}`,
      bytes: (v: Uint8Array) => concat(v, varint(n * 8 + wire), payload),
    })),
    fc.tuple(fieldNumber, fc.constantFrom(0x7fffffff, 0xffffffff, 1 << 20)).map(([n, length]) => ({
      how: `field ${n} claims ${length} bytes`,
      bytes: (v: Uint8Array) => concat(v, varint(n * 8 + 2), varint(length), [1, 2, 3]),
    })),
    ...(stringFields.length
      ? [
          fc.tuple(fc.constantFrom(...stringFields), fc.constantFrom(...INVALID_UTF8)).map(([f, bad]) => ({
            how: `invalid UTF-8 in ${f.name}`,
            bytes: (v: Uint8Array) => concat(v, varint(f.number * 8 + 2), varint(bad.length), bad),
          })),
        ]
      : []),
  );
}

/** JSON that is not quite the message. */
function corruptJsonArb(method: DescMethod): fc.Arbitrary<{ how: string; text: (valid: Message) => string }> {
  const names = method.input.fields.map((f) => f.jsonName);
  const wrong = fc.constantFrom<unknown>(
    null,
    1,
    -1,
    1.5,
    true,
    [],
    {},
    "x",
    [1, "a"],
    { a: 1 },
    "NaN",
    "99999999999999999999999",
  );
  return fc.oneof(
    fc
      .constantFrom("", "{", '{"a":', "[]", '"x"', "1", "null", "{}}", "{,}", "\u0000", "[".repeat(5000) + "]".repeat(5000))
      .map((t) => ({
        how: "not a JSON object",
        text: () => t,
      })),
    fc.string({ unit: "binary", maxLength: 40 }).map((t) => ({ how: "random text", text: () => t })),
    ...(names.length
      ? [
          fc.tuple(fc.constantFrom(...names), wrong).map(([name, value]) => ({
            how: `${name} of the wrong type`,
            text: (v: Message) => JSON.stringify({ ...(toJsonSafe(method.input, v) as object), [name]: value }),
          })),
          fc.constantFrom(...names).map((name) => ({
            how: `${name} twice`,
            text: () => `{"${name}":"a","${name}":1}`,
          })),
        ]
      : []),
    fc.string({ maxLength: 10 }).map((key) => ({
      how: "unknown field",
      text: (v: Message) => JSON.stringify({ ...(toJsonSafe(method.input, v) as object), [`zz${key}`]: 1 }),
    })),
  );
}

function toJsonSafe(schema: DescMessage, m: Message): unknown {
  try {
    return toJson(schema, m);
  } catch {
    return {};
  }
}

/** Envelope lies and oddities: lengths, flags, compression, truncation, message counts. */
function frameArb(): fc.Arbitrary<{ how: string; body: (message: Uint8Array) => Uint8Array; headers?: Record<string, string> }> {
  return fc.oneof(
    fc
      .integer({ min: 1, max: 1000 })
      .map((extra) => ({ how: `length ${extra} too long`, body: (m: Uint8Array) => envelope(m, 0, m.length + extra) })),
    fc.integer({ min: 1, max: 1000 }).map((less) => ({
      how: `length ${less} too short`,
      body: (m: Uint8Array) => envelope(m, 0, Math.max(0, m.length - less)),
    })),
    fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000000, 4 * 1024 * 1024 + 1).map((length) => ({
      how: `length ${length}`,
      body: (m: Uint8Array) => envelope(m, 0, length),
    })),
    fc.integer({ min: 1, max: 255 }).map((flags) => ({ how: `flags ${flags}`, body: (m: Uint8Array) => envelope(m, flags) })),
    fc
      .tuple(fc.uint8Array({ maxLength: 32 }), fc.constantFrom("gzip", "br", "identity", "zstd", ""))
      .map(([garbage, encoding]) => ({
        how: `compressed flag, ${encoding || "no"} encoding, garbage`,
        body: () => envelope(garbage, 1),
        headers: encoding ? { "grpc-encoding": encoding, "connect-content-encoding": encoding } : ({} as Record<string, string>),
      })),
    fc.constant({
      how: "compressed flag, gzip, the real message",
      body: (m: Uint8Array) => envelope(gzipSync(m), 1),
      headers: { "grpc-encoding": "gzip", "connect-content-encoding": "gzip" },
    }),
    fc.nat(4).map((cut) => ({ how: `envelope cut after ${cut} bytes`, body: (m: Uint8Array) => envelope(m).subarray(0, cut) })),
    fc.constant({ how: "no message", body: () => new Uint8Array() }),
    fc.constant({ how: "two messages", body: (m: Uint8Array) => Buffer.concat([envelope(m), envelope(m)]) }),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((tail) => ({
      how: "bytes after the message",
      body: (m: Uint8Array) => Buffer.concat([envelope(m), tail]),
    })),
  );
}

/** Headers a client may get wrong: deadlines, encodings, versions, content types. */
function headerArb(protocol: WireProtocol, streaming: boolean): fc.Arbitrary<Record<string, string>> {
  const own = protocolHeaders(protocol, streaming);
  return fc.oneof(
    fc.constantFrom("-1", "abc", "99999999999999999999", "0", "1").map((v) => ({ ...own, "connect-timeout-ms": v })),
    fc.constantFrom("1Z", "99999999S", "-1m", "1n", "").map((v) => ({ ...own, "grpc-timeout": v })),
    fc.constantFrom("2", "0", "").map((v) => ({ ...own, "connect-protocol-version": v })),
    fc.constantFrom("gzip", "br", "deflate", "zstd", "x").map((v) => ({ ...own, "content-encoding": v })),
    fc
      .constantFrom("application/grpc+json", "application/grpc-web-text", "application/json; charset=latin1", "text/plain")
      .map((v) => ({ ...own, "content-type": v })),
  );
}

/**
 * One input: method, protocol, principal, tenant header, and a body of one
 * of the kinds above, weighted so that most reach the RPC's own code (valid
 * or nearly so) and the rest try the layers before it. `methodWeight` lets
 * costly RPCs (password hashing) come up less often.
 */
export function fuzzInputArb(ctx: FuzzContext, methodWeight: (m: DescMethod) => number = () => 1): fc.Arbitrary<FuzzInput> {
  const tenantHeader = fc.option(fc.oneof(fc.constantFrom(...ctx.tenantSlugs), stringArb(ctx)), { nil: undefined, freq: 2 });
  const bodyArbs = new Map<string, fc.Arbitrary<Body>>();
  const bodyArbOf = (method: DescMethod, protocol: WireProtocol) => {
    const key = `${method.parent.typeName}/${method.name} ${protocol}`;
    let arb = bodyArbs.get(key);
    if (!arb) bodyArbs.set(key, (arb = bodyArb(ctx, method, protocol)));
    return arb;
  };
  const method = fc.oneof(...ctx.methods.map((m) => ({ weight: methodWeight(m), arbitrary: fc.constant(m) })));
  return fc
    .tuple(method, fc.constantFrom(...WIRE_PROTOCOLS), fc.constantFrom(...ctx.principals), tenantHeader)
    .chain(([method, protocol, principal, tenant]) =>
      bodyArbOf(method, protocol).map((b): FuzzInput => {
        const streaming = method.methodKind === "server_streaming";
        const headers: Record<string, string> = { ...(b.headers ?? protocolHeaders(protocol, streaming)) };
        const spared = principal.spares?.includes(method.name) ?? false;
        if (principal.authorization && !spared) headers.authorization = principal.authorization;
        if (tenant !== undefined && principal.namesTenant) headers[TENANT_HEADER] = headerSafe(tenant);
        if (streaming && b.kind === "valid" && b.deadline) {
          // Valid streams with a deadline go the stock path, those without it the fast path.
          headers[protocol.startsWith("connect") ? "connect-timeout-ms" : "grpc-timeout"] = protocol.startsWith("connect")
            ? "5000"
            : "5S";
        }
        const path = `/${method.parent.typeName}/${method.name}`;
        const shownTenant = headers[TENANT_HEADER] ? ` in ${JSON.stringify(headers[TENANT_HEADER]).slice(0, 40)}` : "";
        return {
          method,
          protocol,
          principal: spared ? "no token" : principal.name,
          kind: b.kind,
          request: { path, headers, body: b.body, cancelAfterFirstMessageMs: streaming ? 50 : undefined },
          sent: [Buffer.from(JSON.stringify(headers)), Buffer.from(b.body)],
          shown: `${path} ${protocol} as ${spared ? "no token" : principal.name}${shownTenant} ${b.kind} body=${show(b.body)}`,
        };
      }),
    );
}

type Body = { kind: string; body: Uint8Array; headers?: Record<string, string>; deadline?: boolean };

/** The bodies of one method in one protocol, by kind. */
function bodyArb(ctx: FuzzContext, method: DescMethod, protocol: WireProtocol): fc.Arbitrary<Body> {
  const streaming = method.methodKind === "server_streaming";
  const bases = ctx.validRequests.get(method)!;
  const enveloped = isEnveloped(protocol, streaming);
  const json = protocol === "connect-json";
  const wrap = (m: Uint8Array) => (enveloped ? envelope(m) : m);
  const encoded = (m: Message) => wrap(encode(protocol, method.input, m) ?? encode(protocol, method.input, bases[0])!);
  const bodies: Array<{ weight: number; arbitrary: fc.Arbitrary<Body> }> = [
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(...bases), fc.boolean())
        .map(([m, deadline]) => ({ kind: "valid", body: encoded(m), deadline })),
    },
    { weight: 6, arbitrary: mutatedArb(ctx, method, bases).map((m) => ({ kind: "mutated", body: encoded(m) })) },
    { weight: 2, arbitrary: messageArb(ctx, method.input).map((m) => ({ kind: "random", body: encoded(m) })) },
    json
      ? {
          weight: 2,
          arbitrary: fc.tuple(corruptJsonArb(method), fc.constantFrom(...bases)).map(([c, base]) => ({
            kind: `json: ${c.how}`,
            body: wrap(Buffer.from(c.text(base))),
          })),
        }
      : {
          weight: 2,
          arbitrary: fc.tuple(corruptBinaryArb(method), fc.constantFrom(...bases)).map(([c, base]) => ({
            kind: `binary: ${c.how}`,
            body: wrap(c.bytes(toBinary(method.input, base))),
          })),
        },
    {
      weight: 1,
      arbitrary: fc.tuple(headerArb(protocol, streaming), fc.constantFrom(...bases)).map(([headers, base]) => ({
        kind: `headers: ${JSON.stringify(headers)}`,
        body: encoded(base),
        headers,
      })),
    },
  ];
  if (enveloped) {
    bodies.push({
      weight: 2,
      arbitrary: fc.tuple(frameArb(), fc.constantFrom(...bases)).map(([f, base]) => ({
        kind: `frame: ${f.how}`,
        body: f.body(encode(protocol, method.input, base)!),
        headers: f.headers ? { ...protocolHeaders(protocol, streaming), ...f.headers } : undefined,
      })),
    });
  } else {
    bodies.push({
      weight: 1,
      arbitrary: fc.tuple(fc.uint8Array({ maxLength: 32 }), fc.constantFrom("gzip", "br")).map(([garbage, encoding]) => ({
        kind: `body: ${encoding} garbage`,
        body: garbage,
        headers: { ...protocolHeaders(protocol, streaming), "content-encoding": encoding },
      })),
    });
  }
  return fc.oneof(...bodies);
}

/** HTTP/2 refuses header values with control characters; such a tenant header is sent percent-escaped instead. */
const headerSafe = (v: string) =>
  (/^[\x20-\x7e]*$/.test(v)
    ? v
    : [...Buffer.from(v)].map((b) => (b >= 0x21 && b <= 0x7e ? String.fromCharCode(b) : `%${b.toString(16)}`)).join("")
  ).slice(0, 200);

const show = (b: Uint8Array) => {
  const text = Buffer.from(b).toString("utf8");
  const printable = /^[\x20-\x7e]*$/.test(text);
  const s = printable ? JSON.stringify(text) : `hex:${Buffer.from(b).toString("hex")}`;
  return s.length > 300 ? `${s.slice(0, 300)}…(${b.length} bytes)` : s;
};
