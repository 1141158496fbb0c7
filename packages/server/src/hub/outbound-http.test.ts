import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressProblem, OutboundRefused, postForm, urlProblem } from "./outbound-http.js";

const STRICT = { allowLoopback: false, timeoutMs: 2000 };
const LOOPBACK_OK = { allowLoopback: true, timeoutMs: 2000 };

describe("addresses a token endpoint may live at", () => {
  it.each([
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "fd00::1",
    "fe80::1",
    "::",
    "::ffff:10.0.0.1",
    "224.0.0.1",
  ])("refuses %s, with or without the loopback switch", (address) => {
    expect(addressProblem(address, STRICT)).toBeDefined();
    expect(addressProblem(address, LOOPBACK_OK)).toBeDefined();
  });

  it.each(["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"])(
    "refuses loopback %s unless the test-only switch is on",
    (address) => {
      expect(addressProblem(address, STRICT)).toMatch(/loopback/);
      expect(addressProblem(address, LOOPBACK_OK)).toBeUndefined();
    },
  );

  it.each(["93.184.215.14", "2606:4700::1111"])("allows the public address %s", (address) => {
    expect(addressProblem(address, STRICT)).toBeUndefined();
  });
});

describe("URLs a token endpoint may have", () => {
  it("wants https, except plain http to a loopback literal with the switch on", () => {
    expect(urlProblem(new URL("https://login.example.com/token"), STRICT)).toBeUndefined();
    expect(urlProblem(new URL("http://login.example.com/token"), STRICT)).toMatch(/https only/);
    expect(urlProblem(new URL("http://login.example.com/token"), LOOPBACK_OK)).toMatch(/https only/);
    expect(urlProblem(new URL("http://127.0.0.1:9/token"), STRICT)).toMatch(/loopback/);
    expect(urlProblem(new URL("http://127.0.0.1:9/token"), LOOPBACK_OK)).toBeUndefined();
    expect(urlProblem(new URL("https://[fd00::1]/token"), LOOPBACK_OK)).toMatch(/not a public address/);
    expect(urlProblem(new URL("https://user:pw@login.example.com/token"), STRICT)).toMatch(/credentials/);
  });
});

describe("postForm", () => {
  let server: http.Server;
  let base: string;
  const bodies: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        bodies.push(body);
        if (req.url === "/redirect") {
          res.writeHead(307, { location: "http://169.254.169.254/latest/meta-data" });
          return res.end();
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("posts a form where the loopback switch allows it", async () => {
    const res = await postForm(`${base}/token`, new URLSearchParams({ a: "1" }), {}, LOOPBACK_OK);
    expect(res.status).toBe(200);
    expect(bodies.at(-1)).toBe("a=1");
  });

  it("sends nothing to loopback when the switch is off", async () => {
    const before = bodies.length;
    await expect(postForm(`${base}/token`, new URLSearchParams(), {}, STRICT)).rejects.toBeInstanceOf(OutboundRefused);
    expect(bodies.length).toBe(before);
  });

  it("refuses names that resolve to loopback, in the socket's own lookup", async () => {
    const url = `https://localhost:${new URL(base).port}/token`;
    await expect(postForm(url, new URLSearchParams(), {}, STRICT)).rejects.toThrow(/loopback/);
  });

  it("never follows a redirect", async () => {
    await expect(postForm(`${base}/redirect`, new URLSearchParams(), {}, LOOPBACK_OK)).rejects.toThrow(
      /redirects are not followed/,
    );
  });
});
