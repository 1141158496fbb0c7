import { TokenKind } from "@engine-cloud/api";
import { asBearer, benchClient, createServiceTokens } from "./auth-bench.js";
import type { InProcessServer } from "./in-process-server.js";

/** Each loop stops after its number of calls or this long, whichever comes first. */
const LOOP_MAX_MS = 10_000;

export interface VerifyCost {
  /** One verify() of a cached token, µs: the two HMAC-SHA-256 and a map look-up. */
  warmUs: number;
  warmCalls: number;
  /** One verify() of a token never seen, one at a time, µs: adds the database look-up. */
  coldUs: number;
  coldCalls: number;
}

/**
 * The verifier alone, without transport or handler: what authentication
 * itself costs per call, warm and cold. Sequential, so the figures are
 * latencies on an otherwise idle server process, not throughput.
 */
export async function measureVerifyCost(
  target: InProcessServer,
  opts: { warmCalls: number; coldCalls: number },
): Promise<VerifyCost> {
  const { server, secrets } = target;
  const verifier = server.app.verifier;
  const client = benchClient(server.url, "connect");
  const { secret } = await client.tokens.createToken(
    { label: "verify-cost", kind: TokenKind.SERVICE },
    asBearer(secrets.adminToken),
  );
  await verifier.verify(secret);

  let warmCalls = 0;
  const warmStarted = performance.now();
  const warmDeadline = warmStarted + LOOP_MAX_MS;
  // Checking the clock every 1,000 calls keeps it out of the measured loop.
  while (warmCalls < opts.warmCalls && (warmCalls % 1000 !== 0 || performance.now() < warmDeadline)) {
    await verifier.verify(secret);
    warmCalls++;
  }
  const warmUs = ((performance.now() - warmStarted) * 1000) / warmCalls;

  const fresh = await createServiceTokens(server.url, secrets.adminToken, opts.coldCalls);
  let coldCalls = 0;
  const coldStarted = performance.now();
  const coldDeadline = coldStarted + LOOP_MAX_MS;
  while (coldCalls < fresh.length && performance.now() < coldDeadline) await verifier.verify(fresh[coldCalls++]);
  const coldUs = ((performance.now() - coldStarted) * 1000) / coldCalls;
  return { warmUs, warmCalls, coldUs, coldCalls };
}
