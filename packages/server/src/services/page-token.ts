import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import { findIllFormedText } from "../well-formed-text.js";

const DEFAULT_PAGE_SIZE = 100;

export function pageSizeOf(requested: number): number {
  return requested > 0 ? requested : DEFAULT_PAGE_SIZE;
}

/** Page tokens are opaque to clients: a keyset cursor, base64url JSON. */
export function encodePageToken(cursor: object): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** What a cursor field holds: a row's text column, or a row id. */
export type CursorField = "text" | "uuid";

/**
 * The cursor in a page token, or undefined for none (the first page). Decoded strictly,
 * because its values go into the page's query: the token is base64url of a JSON object with
 * exactly the cursor's fields, each a string of its kind (text: well-formed, no NUL, at most
 * MAX_CURSOR_TEXT characters; uuid: a UUID). Anything else is a token this server did not
 * issue: INVALID_ARGUMENT, never a failing query. `fields` as a list means all text.
 */
export function decodePageToken<T extends Record<string, string>>(
  token: string,
  fields: (keyof T & string)[] | { [K in keyof T & string]: CursorField },
): T | undefined {
  if (!token) return undefined;
  const kinds: Record<string, CursorField> = Array.isArray(fields) ? Object.fromEntries(fields.map((k) => [k, "text"])) : fields;
  if (token.length > MAX_TOKEN_LENGTH || !BASE64URL.test(token)) throw notIssuedHere();
  let cursor: unknown;
  try {
    cursor = JSON.parse(strictUtf8.decode(Buffer.from(token, "base64url")));
  } catch {
    throw notIssuedHere();
  }
  if (!isCursorOfShape(cursor, kinds)) throw notIssuedHere();
  return cursor as T;
}

const MAX_TOKEN_LENGTH = 4096;
const MAX_CURSOR_TEXT = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// fatal: bytes that are not UTF-8 make a token not ours, rather than U+FFFD in a query.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function isCursorOfShape(cursor: unknown, kinds: Record<string, CursorField>): boolean {
  if (typeof cursor !== "object" || cursor === null || Array.isArray(cursor)) return false;
  const entries = Object.entries(cursor);
  if (entries.length !== Object.keys(kinds).length) return false;
  return entries.every(([key, value]) => {
    if (typeof value !== "string" || !Object.hasOwn(kinds, key)) return false;
    if (kinds[key] === "uuid") return UUID.test(value);
    return value.length <= MAX_CURSOR_TEXT && findIllFormedText(value) === undefined;
  });
}

const notIssuedHere = () =>
  new DomainError(
    "invalid_argument",
    ErrorReason.PAGE_TOKEN_INVALID,
    "page_token is not one this server issued; start again without it",
    {
      field: "page_token",
    },
  );

/**
 * Fetches one row more than the page holds, so the last page is known to be
 * last without a second query.
 */
export function splitPage<R>(rows: R[], size: number, cursorOf: (last: R) => object): { page: R[]; next: string } {
  if (rows.length <= size) return { page: rows, next: "" };
  const page = rows.slice(0, size);
  return { page, next: encodePageToken(cursorOf(page[page.length - 1])) };
}

/** A page token whose cursor is the last row's id. */
export function decodeIdPageToken(token: string): string | undefined {
  return decodePageToken<{ id: string }>(token, { id: "uuid" })?.id;
}
