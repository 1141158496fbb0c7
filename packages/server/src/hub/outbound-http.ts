import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";

/**
 * The one way the hub calls out to an OAuth provider (token and revocation
 * endpoints). Token URLs come from tenants (custom providers) and from
 * templates a tenant fills (a Salesforce My Domain), so a request must never
 * reach the server's own network: every address a name resolves to is
 * checked in the socket's own lookup (no second resolution an attacker's DNS
 * could answer differently), literal addresses likewise, and no redirect is
 * followed at all — a token endpoint has no business redirecting.
 */
export interface OutboundPolicy {
  /** Tests only (config, default off): loopback addresses and plain http to them are allowed. */
  allowLoopback: boolean;
  /** The whole request, connect to last byte. */
  timeoutMs: number;
}

export class OutboundRefused extends Error {
  constructor(readonly why: string) {
    super(`outbound request refused: ${why}`);
  }
}

const MAX_RESPONSE_BYTES = 256 * 1024;

/** Addresses no provider lives at: private, shared, link-local, multicast, reserved, unspecified. */
const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  NON_PUBLIC.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["64:ff9b::", 96],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  NON_PUBLIC.addSubnet(net, bits, "ipv6");
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it maps. */
function normalised(address: string): { address: string; family: "ipv4" | "ipv6" } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: "ipv4" };
  return { address, family: isIP(address) === 6 ? "ipv6" : "ipv4" };
}

/** Why an address may not be called, or undefined when it may. */
export function addressProblem(address: string, policy: Pick<OutboundPolicy, "allowLoopback">): string | undefined {
  const { address: a, family } = normalised(address);
  if (LOOPBACK.check(a, family)) return policy.allowLoopback ? undefined : `${address} is a loopback address`;
  if (NON_PUBLIC.check(a, family)) return `${address} is not a public address`;
  return undefined;
}

function checkedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const list = addresses as LookupAddress[];
      const bad = list.map((a) => addressProblem(a.address, policy)).find(Boolean);
      if (bad || list.length === 0) return callback(new OutboundRefused(bad ?? `${hostname} has no address`), "", 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

/** Why a URL may not be called, or undefined. */
export function urlProblem(url: URL, policy: Pick<OutboundPolicy, "allowLoopback">): string | undefined {
  if (url.username || url.password) return "the URL carries credentials";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const literal = isIP(host) !== 0;
  if (literal) {
    const bad = addressProblem(host, policy);
    if (bad) return bad;
  }
  if (url.protocol === "https:") return undefined;
  // Plain http only to a loopback literal, and only where tests allowed loopback.
  if (
    url.protocol === "http:" &&
    policy.allowLoopback &&
    literal &&
    LOOPBACK.check(normalised(host).address, normalised(host).family)
  ) {
    return undefined;
  }
  return `${url.protocol.replace(":", "")} is not allowed (https only)`;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** POSTs a form; any 3xx is refused rather than followed. Throws OutboundRefused or a network error. */
export function postForm(
  target: string,
  form: URLSearchParams,
  headers: Record<string, string>,
  policy: OutboundPolicy,
): Promise<OutboundResponse> {
  const url = new URL(target);
  const problem = urlProblem(url, policy);
  if (problem) return Promise.reject(new OutboundRefused(problem));
  const body = Buffer.from(form.toString());
  const send = url.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: "POST",
        lookup: checkedLookup(policy),
        timeout: policy.timeoutMs,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "content-length": String(body.length),
          // GitHub answers form-encoded without it.
          accept: "application/json",
          ...headers,
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          res.resume();
          return reject(new OutboundRefused(`the endpoint answered ${status} (redirects are not followed)`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new OutboundRefused(`response over ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on("end", () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${policy.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
