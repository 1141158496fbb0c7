/** Node's request as far as its headers go, on HTTP/1.1 and HTTP/2 alike. */
interface NodeRequestHeaders {
  rawHeaders: string[];
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Node treats `authorization` as a single-value header and silently keeps the first of repeated
 * ones in `req.headers`, which both Watch paths and the connect adapter read. This puts every
 * value back, comma-joined (RFC 9110 §5.3), so auth/bearer.ts sees them all and refuses them on
 * every path alike. One pass over the raw header list per request; nothing per message.
 */
export function joinRepeatedAuthorization(req: NodeRequestHeaders): void {
  const raw = req.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 13 && name.toLowerCase() === "authorization") values.push(raw[i + 1]);
  }
  if (values.length > 1) req.headers.authorization = values.join(", ");
}
