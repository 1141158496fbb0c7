import { invalidArgument } from "../errors/domain-error.js";

const DEFAULT_PAGE_SIZE = 100;

export function pageSizeOf(requested: number): number {
  return requested > 0 ? requested : DEFAULT_PAGE_SIZE;
}

/** Page tokens are opaque to clients: a keyset cursor, base64url JSON. */
export function encodePageToken(cursor: object): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

export function decodePageToken<T extends Record<string, string>>(token: string, keys: (keyof T)[]): T | undefined {
  if (!token) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (v && typeof v === "object" && keys.every((k) => typeof v[k] === "string")) return v as T;
  } catch {
    // fall through
  }
  throw notIssuedHere();
}

const notIssuedHere = () => invalidArgument("page_token", "page_token is not one this server issued; start again without it");

/**
 * Fetches one row more than the page holds, so the last page is known to be
 * last without a second query.
 */
export function splitPage<R>(rows: R[], size: number, cursorOf: (last: R) => object): { page: R[]; next: string } {
  if (rows.length <= size) return { page: rows, next: "" };
  const page = rows.slice(0, size);
  return { page, next: encodePageToken(cursorOf(page[page.length - 1])) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A page token whose cursor is the last row's id. */
export function decodeIdPageToken(token: string): string | undefined {
  const cursor = decodePageToken<{ id: string }>(token, ["id"]);
  if (cursor && !UUID.test(cursor.id)) throw notIssuedHere();
  return cursor?.id;
}
