/** The credential of a request: `authorization: Bearer <token>` (the scheme is optional for gRPC tooling). */
export function bearerOf(header: Headers): string | undefined {
  const value = header.get("authorization")?.trim();
  if (!value) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(value);
  return m ? m[1] : value;
}
