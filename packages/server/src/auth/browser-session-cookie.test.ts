import { describe, expect, it } from "vitest";
import { ErrorReason } from "@engine-cloud/api";
import { createBrowserSessions, type PresentedCredential } from "./browser-session-cookie.js";

const NOW = Date.UTC(2026, 0, 1);
const plain = createBrowserSessions({ scheme: "http" }, () => NOW);
const tls = createBrowserSessions({ scheme: "https" }, () => NOW);
const published = createBrowserSessions({ scheme: "http", publicOrigin: "https://cloud.example.com" }, () => NOW);
const inAnHour = new Date(NOW + 3600_000);

const headers = (h: Record<string, string>) => new Headers(h);
const reasonOf = (p: PresentedCredential) => (p.via === undefined ? p.refusal?.reason : undefined);

describe("the session cookie's attributes", () => {
  it("drops Secure (and the __Host- name) only for plain http to a loopback host", () => {
    for (const host of ["127.0.0.1:7070", "localhost:7070", "[::1]:7070", "LOCALHOST"]) {
      expect(plain.cookieFor({ host }, "ecu_x", inAnHour)).toBe("ec_session=ecu_x; Max-Age=3600; HttpOnly; SameSite=Lax; Path=/");
    }
    for (const host of ["cloud.example.com", "10.0.0.5:7070", "127.0.0.1.example.com", undefined]) {
      expect(plain.cookieFor({ host }, "ecu_x", inAnHour)).toBe(
        "__Host-ec_session=ecu_x; Max-Age=3600; HttpOnly; SameSite=Lax; Path=/; Secure",
      );
    }
    expect(tls.cookieFor({ host: "127.0.0.1:7070" }, "ecu_x", inAnHour)).toMatch(/^__Host-ec_session=.*; Secure$/);
    // A TLS proxy in front, forwarding to loopback: the browser is on the https public URL.
    expect(published.cookieFor({ host: "127.0.0.1:7070" }, "ecu_x", inAnHour)).toMatch(/^__Host-ec_session=.*; Secure$/);
  });

  it("clears the cookie it set with Max-Age=0 and the same attributes", () => {
    expect(plain.clearedCookie({ host: "127.0.0.1:1" })).toBe("ec_session=; Max-Age=0; HttpOnly; SameSite=Lax; Path=/");
    expect(tls.clearedCookie({ host: "x" })).toBe("__Host-ec_session=; Max-Age=0; HttpOnly; SameSite=Lax; Path=/; Secure");
  });
});

describe("which requests may use the cookie", () => {
  const site = { host: "127.0.0.1:7070" };
  const cookie = { cookie: "other=1; ec_session=ecu_tok" };
  const json = { "content-type": "application/json" };

  it("accepts a Connect call the browser marks same-origin, or without that mark an Origin equal to the server's", () => {
    expect(plain.credentialOf(headers({ ...cookie, ...json, "sec-fetch-site": "same-origin" }), site)).toEqual({
      token: "ecu_tok",
      via: "cookie",
    });
    expect(plain.credentialOf(headers({ ...cookie, ...json, origin: "http://127.0.0.1:7070" }), site).via).toBe("cookie");
    // Connect GET (no content type) and Connect streams count as Connect.
    expect(plain.credentialOf(headers({ ...cookie, "sec-fetch-site": "same-origin" }), site).via).toBe("cookie");
    const stream = { "content-type": "application/connect+proto", "sec-fetch-site": "same-origin" };
    expect(plain.credentialOf(headers({ ...cookie, ...stream }), site).via).toBe("cookie");
  });

  it("refuses cross-site, same-site and none, and a foreign or missing Origin, saying why", () => {
    for (const fetchSite of ["cross-site", "same-site", "none"]) {
      const p = plain.credentialOf(headers({ ...cookie, ...json, "sec-fetch-site": fetchSite }), site);
      expect(reasonOf(p)).toBe(ErrorReason.COOKIE_NOT_SAME_ORIGIN);
    }
    for (const origin of ["http://localhost:7070", "http://127.0.0.1:7071", "https://127.0.0.1:7070", "null"]) {
      expect(reasonOf(plain.credentialOf(headers({ ...cookie, ...json, origin }), site))).toBe(
        ErrorReason.COOKIE_NOT_SAME_ORIGIN,
      );
    }
    expect(reasonOf(plain.credentialOf(headers({ ...cookie, ...json }), site))).toBe(ErrorReason.COOKIE_NOT_SAME_ORIGIN);
    // Sec-Fetch-Site wins over a matching Origin: a browser that sends it is believed.
    const both = { "sec-fetch-site": "cross-site", origin: "http://127.0.0.1:7070" };
    expect(reasonOf(plain.credentialOf(headers({ ...cookie, ...json, ...both }), site))).toBe(ErrorReason.COOKIE_NOT_SAME_ORIGIN);
  });

  it("compares Origin with ENGINE_CLOUD_PUBLIC_URL's origin when it is set, not with the Host the request names", () => {
    const behindProxy = { host: "10.0.0.5:7070" };
    const ok = published.credentialOf(
      headers({ cookie: "__Host-ec_session=t", ...json, origin: "https://cloud.example.com" }),
      behindProxy,
    );
    expect(ok.via).toBe("cookie");
    const hostOrigin = headers({ cookie: "__Host-ec_session=t", ...json, origin: "http://10.0.0.5:7070" });
    expect(reasonOf(published.credentialOf(hostOrigin, behindProxy))).toBe(ErrorReason.COOKIE_NOT_SAME_ORIGIN);
  });

  it("never accepts the cookie over gRPC or gRPC-Web, even same-origin", () => {
    for (const contentType of [
      "application/grpc",
      "application/grpc+proto",
      "application/grpc-web+proto",
      "application/grpc-web-text",
    ]) {
      const p = plain.credentialOf(headers({ ...cookie, "content-type": contentType, "sec-fetch-site": "same-origin" }), site);
      expect(reasonOf(p)).toBe(ErrorReason.COOKIE_PROTOCOL_REFUSED);
    }
  });

  it("lets an authorization header win over the cookie, and reads only the cookie of the request's own name", () => {
    const p = plain.credentialOf(headers({ ...cookie, authorization: "Bearer ecp_other", "sec-fetch-site": "cross-site" }), site);
    expect(p).toEqual({ token: "ecp_other", via: "bearer" });
    // Over plain http to loopback the cookie is ec_session; a __Host- one there is not ours to read, and vice versa.
    expect(plain.credentialOf(headers({ cookie: "__Host-ec_session=t", "sec-fetch-site": "same-origin" }), site)).toEqual({
      token: undefined,
    });
    expect(tls.credentialOf(headers({ cookie: "ec_session=t", "sec-fetch-site": "same-origin" }), site)).toEqual({
      token: undefined,
    });
  });
});
