import { randomUUID } from "node:crypto";
import { ScalarType, type DescField, type DescMethod, type Message } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fullMethodName, SDK_API_METHODS } from "./support/api-descriptors.js";
import { callAnyMethod, describeOutcome, refusedByAccessCheck, type CallOutcome } from "./support/call-any-method.js";
import { buildValidRequest, type FieldValueRule } from "./support/request-builder.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: { ENGINE_CLOUD_ALLOWED_PROJECTS: "ill-formed" } });
});
afterAll(() => srv?.stop());

/** Values that pass the request's own rules, so the one ill-formed field is what the server meets. */
const valueFor: FieldValueRule = (field: DescField) => {
  const name = field.name;
  if (name === "tenant" || name === "slug") return "default";
  if (name === "name" || name === "project" || name === "projects") return "ill-formed";
  if (name === "email") return `someone-${randomUUID().slice(0, 8)}@example.com`;
  if (name === "token_id") return "";
  if (name === "id" || name.endsWith("_id")) return randomUUID();
  return undefined;
};

const isString = (f: DescField) =>
  (f.fieldKind === "scalar" ||
    (f.fieldKind === "list" && f.listKind === "scalar") ||
    (f.fieldKind === "map" && f.mapKind === "scalar")) &&
  f.scalar === ScalarType.STRING;

/** Every top-level string field of every RPC: `[method, field]`. */
const STRING_FIELDS: Array<[string, DescMethod, DescField]> = SDK_API_METHODS.flatMap((m) =>
  m.input.fields.filter(isString).map((f): [string, DescMethod, DescField] => [`${fullMethodName(m)} ${f.name}`, m, f]),
);

/** A valid request for `method` with `field` holding `text` (as its only item, for repeated and map fields). */
function requestWith(method: DescMethod, field: DescField, text: string): Message {
  const request = buildValidRequest(method.input, valueFor) as Message & Record<string, unknown>;
  const value = field.fieldKind === "list" ? [text] : field.fieldKind === "map" ? { k: text } : text;
  if (field.oneof) request[field.oneof.localName] = { case: field.localName, value };
  else request[field.localName] = value;
  return request;
}

/** The platform admin, in the default tenant: past the access check of every RPC a token may call. */
const asAdmin = (method: DescMethod, request: Message) => callAnyMethod(srv.admin("default").transport, method, request);

/** Refused before validation ran, for who the caller is (RPCs only a signed-in person may call). */
const refusedForCaller = (o: CallOutcome) => refusedByAccessCheck(o) || (!o.ok && o.error.codeName === "unauthenticated");

describe("ill-formed strings in any request", () => {
  it("finds string fields to try in the API's descriptors", () => {
    expect(STRING_FIELDS.length).toBeGreaterThan(20);
  });

  it("refuses a NUL character in every string field of every RPC with INVALID_ARGUMENT naming the field, never INTERNAL", async () => {
    const wrong: string[] = [];
    let reached = 0;
    for (const [label, method, field] of STRING_FIELDS) {
      const outcome = await asAdmin(method, requestWith(method, field, "a\u0000b"));
      if (refusedForCaller(outcome)) continue;
      reached++;
      const expected =
        field.fieldKind === "list" ? `${field.name}[0]` : field.fieldKind === "map" ? `${field.name}["k"]` : field.name;
      if (outcome.ok || outcome.error.codeName !== "invalid_argument" || outcome.error.field !== expected) {
        wrong.push(`${label}: ${describeOutcome(outcome)}`);
      }
    }
    expect(wrong).toEqual([]);
    // Most RPCs take a token; the few for signed-in people only are refused before validation.
    expect(reached).toBeGreaterThan(STRING_FIELDS.length / 2);
  });
});

const LIST_METHODS = SDK_API_METHODS.filter((m) => m.input.fields.some((f) => f.name === "page_token"));
const b64 = (text: string) => Buffer.from(text).toString("base64url");

/** Tokens no server issued: garbage, base64 of junk, JSON of the wrong shape, cursors of the right shape with values no row has. */
const MALFORMED_PAGE_TOKENS: Array<[string, string]> = [
  ["garbage", "not a token!"],
  ["base64 of junk", b64("\u0001\u0002junk")],
  ["base64 of bytes that are not UTF-8", Buffer.from([0xff, 0xfe, 0x7b]).toString("base64url")],
  ["a JSON array", b64("[1,2]")],
  ["a JSON string", b64('"id"')],
  ["an empty object", b64("{}")],
  ["a cursor with a number", b64('{"id":5}')],
  ["an id that is no UUID", b64('{"id":"x"}')],
  ["a cursor holding a NUL", b64('{"email":"a\\u0000"}')],
  ["a name cursor holding a NUL", b64('{"name":"a\\u0000"}')],
  ["a credential cursor whose id is no UUID", b64('{"provider":"a","alias":"b","project":"c","id":"x"}')],
  ["a credential cursor holding a NUL", b64(`{"provider":"a\\u0000","alias":"b","project":"c","id":"${randomUUID()}"}`)],
  ["a cursor with an extra field", b64(`{"id":"${randomUUID()}","x":"y"}`)],
];

describe("malformed page tokens on every List RPC", () => {
  it("finds the List RPCs in the API's descriptors", () => {
    expect(LIST_METHODS.map((m) => m.name)).toEqual(expect.arrayContaining(["ListTokens", "ListProjects", "ListCredentials"]));
  });

  it("refuses every malformed page token with INVALID_ARGUMENT on page_token, never INTERNAL", async () => {
    const wrong: string[] = [];
    for (const method of LIST_METHODS) {
      const field = method.input.fields.find((f) => f.name === "page_token")!;
      for (const [what, token] of MALFORMED_PAGE_TOKENS) {
        const outcome = await asAdmin(method, requestWith(method, field, token));
        if (refusedForCaller(outcome)) continue;
        if (outcome.ok || outcome.error.codeName !== "invalid_argument" || outcome.error.field !== "page_token") {
          wrong.push(`${fullMethodName(method)} with ${what}: ${describeOutcome(outcome)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
