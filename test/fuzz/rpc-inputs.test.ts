import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { DescField, DescMethod, Message } from "@bufbuild/protobuf";
import { Role, TokenKind } from "@engine-cloud/api";
import { createCloudClient } from "@engine-cloud/sdk/node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processCpuMs } from "../../bench/server-process.js";
import { SDK_API_METHODS } from "../support/api-descriptors.js";
import { fuzzInputArb, type FuzzContext, type FuzzInput, type FuzzPrincipal } from "../support/fuzz-inputs.js";
import { buildValidRequest, type FieldValueRule } from "../support/request-builder.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/test-database.js";
import { addPerson, FAST_PASSWORD_HASH } from "../support/test-people.js";
import { PATIENT_START, randomSeedToken, spawnServerProcess, type ServerProcess } from "../support/test-server.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "../support/test-tenant.js";
import { createWireClient, type WireAnswer, type WireClient } from "../support/wire-call.js";

// Generated input for every RPC of the API, from the descriptors: valid and
// invalid messages, bad framing and headers, unicode edge cases, over
// Connect JSON, Connect binary, gRPC and gRPC-Web, as every kind of principal
// of tenant A, naming tenant B's ids. Whatever comes in, the server must
// answer every call within a bound, never INTERNAL, every error typed with an
// ErrorInfo reason, never with tenant B's data, and stay up.
//
// ENGINE_FUZZ_SEED and ENGINE_FUZZ_INPUTS choose the run (`npm run fuzz --
// --seed N --inputs M`); a finding names its seed and input number, and the
// same seed replays the same inputs.

const SEED = Number(process.env.ENGINE_FUZZ_SEED ?? 20261201);
const INPUTS = Number(process.env.ENGINE_FUZZ_INPUTS ?? 100_000);
const FINDINGS_FILE = process.env.ENGINE_FUZZ_FINDINGS;
/** A call not answered within this is a hang (the server answers bad input in milliseconds). */
const ANSWER_BOUND_MS = 15_000;
/** Calls in flight at once, over a few reused HTTP/2 connections. */
const IN_FLIGHT = 24;
const CONNECTIONS = 4;
const BATCH = 1000;
/** RPCs that hash a password (scrypt, tens of ms each) when their input is valid: drawn a quarter as often. */
const PASSWORD_HASHING_RPCS = ["Login", "AcceptInvitation", "ChangePassword"];

/** On PostgreSQL two server processes share the database (and the two cores); PGlite allows one. */
let servers: ServerProcess[];
let database: TestDatabase;
let wires: WireClient[];
let ctx: FuzzContext;
/** Tenant B's ids and names that requests may carry, and those they never carry (see betaThings). */
let betaNames: string[];
let betaHidden: string[];
/**
 * B's names that A may have copied into its own data by now (a project of
 * A named like B's, a label holding B's id): sent in a request that succeeded.
 * Seeing one of these in a reply is A reading its own copy.
 */
const copiedByA = new Set<string>();
/** Replies naming B's things the request did not name, judged at the end against `copiedByA`. */
const suspects: Array<{ input: FuzzInput; said: string; named: string[] }> = [];
const adminToken = randomSeedToken();

beforeAll(async () => {
  database = await createTestDatabase();
  const env = {
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    DATABASE_URL: database.databaseUrl ?? "",
    ...FAST_PASSWORD_HASH,
  };
  servers = await Promise.all(Array.from({ length: onPostgres ? 2 : 1 }, () => spawnServerProcess(env, [], PATIENT_START)));
  const server = servers[0];
  const address = { url: server.url, adminToken };
  const tag = randomUUID().slice(0, 8);
  const acme = await createTestTenant(address, { allow: [`acme-${tag}`] });
  const beta = await createTestTenant(address, { allow: [`beta-${tag}`] });
  const acmeCredential = await putApiKey(acme.admin, { project: `acme-${tag}`, provider: "acme" }, uniqueSecret());
  const beta1 = await betaThings(address, beta, `beta-${tag}`);

  const owner = await addPerson(server, acme.admin, Role.OWNER);
  const token = (kind: TokenKind) => acme.token({ kind }).then((t) => t.secret);
  const principals: FuzzPrincipal[] = [
    { name: "no token", namesTenant: true },
    { name: "malformed token", authorization: `Bearer ect_${randomUUID()}`, namesTenant: true },
    { name: "runtime token of A", authorization: `Bearer ${await token(TokenKind.RUNTIME)}`, namesTenant: true },
    { name: "service token of A", authorization: `Bearer ${await token(TokenKind.SERVICE)}`, namesTenant: true },
    { name: "tenant-admin token of A", authorization: `Bearer ${await token(TokenKind.TENANT_ADMIN)}`, namesTenant: true },
    { name: "owner session of A", authorization: `Bearer ${owner.token}`, namesTenant: true, spares: ["Logout"] },
  ];
  betaNames = beta1.names;
  betaHidden = beta1.hidden;
  const acmeStrings = [acme.slug, `acme-${tag}`, acmeCredential.id, acmeCredential.provider];
  const interestingStrings = [...beta1.names, ...acmeStrings, randomUUID(), "00000000-0000-0000-0000-000000000000"];
  const rules: FieldValueRule[] = [
    valuesRule({ tenant: acme.slug, project: `acme-${tag}`, id: acmeCredential.id }),
    valuesRule({ tenant: beta.slug, project: `beta-${tag}`, id: beta1.credentialId }),
    valuesRule({ tenant: beta.slug, project: `beta-${tag}`, id: beta1.tokenId }),
  ];
  ctx = {
    methods: SDK_API_METHODS,
    principals,
    validRequests: new Map(SDK_API_METHODS.map((m) => [m, validRequestsOf(m, rules)])),
    interestingStrings,
    tenantSlugs: [acme.slug, beta.slug, "default", ""],
  };
  wires = servers.map((s) => createWireClient(s.url, CONNECTIONS));
}, 120_000);

afterAll(async () => {
  for (const w of wires ?? []) w.close();
  await Promise.all((servers ?? []).map((s) => s.stop()));
  await database?.drop();
});

/**
 * Tenant B's things. `names` are what A's requests may name (ids, slugs, the
 * project); `hidden` are never sent (a second credential, a token, secret
 * values, labels): one of those in a reply to A can only have come out of B.
 */
async function betaThings(address: { url: string; adminToken: string }, beta: TestTenant, project: string) {
  const credential = await putApiKey(beta.admin, { project, provider: "bprov", alias: "balias" }, uniqueSecret());
  const { token } = await beta.admin.tokens.createToken({ label: "blabel", kind: TokenKind.RUNTIME });
  const person = await addPerson({ url: address.url }, beta.admin, Role.ADMIN);
  const names = [beta.slug, beta.id, project, credential.id, token!.id, person.userId, person.sessionId, person.email];
  const hiddenSecret = uniqueSecret();
  const hiddenProvider = `hidden-${randomUUID().slice(0, 8)}`;
  const hidden = await putApiKey(
    beta.admin,
    { project, provider: hiddenProvider, alias: `${hiddenProvider}-alias` },
    hiddenSecret,
  );
  const hiddenLabel = `hidden-label-${randomUUID().slice(0, 8)}`;
  const hiddenToken = await beta.admin.tokens.createToken({ label: hiddenLabel, kind: TokenKind.SERVICE, projects: [project] });
  return {
    credentialId: credential.id,
    tokenId: token!.id,
    names,
    hidden: [hidden.id, hiddenSecret, hiddenProvider, hiddenLabel, hiddenToken.token!.id, hiddenToken.secret, person.displayName],
  };
}

/** A request rule naming one tenant's things: its slug, a project, an id. */
function valuesRule(v: { tenant: string; project: string; id: string }): FieldValueRule {
  return (field: DescField) => {
    const name = field.name;
    if (name === "tenant" || name === "slug") return v.tenant;
    if (name === "name" || name === "project" || name === "projects") return v.project;
    if (name === "email") return `invitee-${randomUUID().slice(0, 8)}@example.com`;
    if (name === "token_id") return "";
    if (name === "id" || name.endsWith("_id")) return v.id;
    return undefined;
  };
}

function validRequestsOf(method: DescMethod, rules: FieldValueRule[]): Message[] {
  const built: Message[] = [];
  for (const rule of rules) {
    try {
      built.push(buildValidRequest(method.input, rule));
    } catch {
      // A rule that cannot fill this method's fields validly leaves the others.
    }
  }
  if (built.length === 0) throw new Error(`no valid request for ${method.name}: teach test/support/request-builder.ts`);
  return built;
}

/** One distinct finding: an oracle broken with one kind of answer, and where it showed. */
interface Finding {
  oracle: string;
  /** Code, reason and message, numbers and quoted values blanked: what makes findings distinct. */
  answer: string;
  rpcs: Set<string>;
  protocols: Set<string>;
  /** The first input that showed it, the answer it got, and where to find it again (seed and input number). */
  example: string;
  exampleAnswer: string;
  at: string;
  count: number;
}

/** What is wrong with an answer, if anything: the oracles. */
function judge(input: FuzzInput, answer: WireAnswer | "timeout"): { oracle: string; answer: string } | undefined {
  if (answer === "timeout") return { oracle: "hang", answer: `no answer within ${ANSWER_BOUND_MS} ms` };
  const said = `${answer.code}${answer.reason ? ` ${answer.reason}` : ""}${answer.message ? `: ${answer.message}` : ""}`;
  if (answer.code === "client_error") return undefined;
  if (answer.code === "ok") for (const m of betaNames) if (sentBy(input, m)) copiedByA.add(m);
  const hidden = betaHidden.filter((m) => answer.text.includes(m));
  if (hidden.length) return { oracle: "cross-tenant data", answer: `${said}; tenant B's ${hidden.join(", ")} in the reply` };
  // A name of B's in a reply may be A's own copy made by a call still in flight: judged once all calls are done.
  const named = betaNames.filter((m) => answer.text.includes(m) && !sentBy(input, m));
  if (named.length) suspects.push({ input, said, named });
  if (answer.code === "ok") return undefined;
  if (answer.code === "internal" || answer.code === "unknown")
    return { oracle: "INTERNAL/UNKNOWN answer", answer: said + snippet(answer) };
  // A content type of no protocol the server speaks: HTTP's own answer is the right one.
  if (answer.code === "http_415" && input.kind.startsWith("headers:") && input.kind.includes("content-type")) return undefined;
  if (
    !/^[a-z_]+$/.test(answer.code) ||
    answer.code.startsWith("http_") ||
    answer.code.startsWith("no_") ||
    answer.code.endsWith("_unparsable")
  ) {
    return { oracle: "answer of no protocol", answer: said + snippet(answer) };
  }
  if (!answer.reason) return { oracle: "error without ErrorInfo reason", answer: said + snippet(answer) };
  return undefined;
}

const sentBy = (input: FuzzInput, s: string) => input.sent.some((b) => b.includes(s));

const snippet = (a: WireAnswer) => ` — ${a.text.replace(/\s+/g, " ").slice(0, 240)}`;

/** Findings are told apart by oracle and answer, with the RPC-specific parts of the message blanked. */
function findingKey(verdict: { oracle: string; answer: string }) {
  const answer = verdict.answer
    .split(" — ")[0]
    .replace(/engine\.cloud\.v1\.[A-Za-z_.]+/g, "<field>")
    .replace(/"[^"]*"|'[^']*'|\\u[0-9a-f]{4}/g, "…")
    .replace(/\d+/g, "N")
    // The start of a message names its kind ("cannot decode field <field> from JSON: expected"); the rest, the value.
    .slice(0, 64);
  return `${verdict.oracle}|${answer}`;
}

const crashFinding = (answer: string, at: string): Finding => ({
  oracle: "crash",
  answer,
  rpcs: new Set(),
  protocols: new Set(),
  example: "-",
  exampleAnswer: answer,
  at,
  count: 1,
});

async function serverAnswers(server: ServerProcess): Promise<boolean> {
  try {
    await createCloudClient({ baseUrl: server.url }).server.getServerInfo({}, { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const exited = (server: ServerProcess) => server.child.exitCode !== null || server.child.signalCode !== null;

describe(`generated input for every RPC (seed ${SEED}, ${INPUTS} inputs)`, () => {
  it("answers every input within the bound, never INTERNAL, every error typed with a reason, never with another tenant's data, and stays up", async () => {
    const findings = new Map<string, Finding>();
    const latency: Record<string, { n: number; ms: number }> = {};
    const record = (input: FuzzInput, verdict: { oracle: string; answer: string }, at: string) => {
      const key = findingKey(verdict);
      let finding = findings.get(key);
      if (!finding) {
        finding = {
          oracle: verdict.oracle,
          answer: key.split("|")[1],
          rpcs: new Set(),
          protocols: new Set(),
          example: input.shown,
          exampleAnswer: verdict.answer.slice(0, 600),
          at,
          count: 0,
        };
        findings.set(key, finding);
      }
      finding.count++;
      finding.rpcs.add(input.method.name);
      finding.protocols.add(input.protocol);
    };
    const started = performance.now();
    const serverCpu = () => servers.reduce((sum, s) => sum + processCpuMs(s.child.pid!), 0);
    const serverCpuAtStart = serverCpu();
    const clientCpuAtStart = process.cpuUsage();
    const arb = fuzzInputArb(ctx, (m) => (PASSWORD_HASHING_RPCS.includes(m.name) ? 1 : 4));
    let done = 0;
    for (let batch = 0; done < INPUTS; batch++) {
      const count = Math.min(BATCH, INPUTS - done);
      const inputs = fc.sample(arb, { seed: (SEED + batch) | 0, numRuns: count });
      let next = 0;
      const worker = async (w: number) => {
        const wire = wires[w % wires.length];
        while (next < inputs.length) {
          const i = next++;
          const input = inputs[i];
          const streaming = input.method.methodKind === "server_streaming";
          const answer = await wire.call(input.protocol, streaming, input.request, ANSWER_BOUND_MS);
          const verdict = judge(input, answer);
          const stat = (latency[input.method.name] ??= { n: 0, ms: 0 });
          stat.n++;
          stat.ms += answer === "timeout" ? ANSWER_BOUND_MS : answer.ms;
          if (!verdict) continue;
          record(input, verdict, `seed ${SEED}, batch ${batch}, input ${i}`);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
      done += count;
      const dead = servers.find(exited);
      if (dead) {
        findings.set("crash", crashFinding(dead.output().slice(-2000), `batch ${batch}`));
        break;
      }
      if (batch % 10 === 9) {
        const rate = Math.round(done / ((performance.now() - started) / 1000));
        console.log(`fuzz: ${done}/${INPUTS} inputs, ${rate}/s, ${findings.size} distinct findings`);
      }
    }
    for (const { input, said, named } of suspects) {
      const leaked = named.filter((m) => !copiedByA.has(m));
      if (leaked.length)
        record(
          input,
          { oracle: "cross-tenant data", answer: `${said}; tenant B's ${leaked.join(", ")} in the reply` },
          "after the run",
        );
    }
    if (!findings.has("crash") && !(await Promise.all(servers.map(serverAnswers))).every(Boolean)) {
      findings.set("dead", crashFinding("GetServerInfo no longer answers", "end"));
    }
    const seconds = Math.round((performance.now() - started) / 1000);
    const list = [...findings.values()].sort((a, b) => a.oracle.localeCompare(b.oracle) || b.count - a.count);
    console.log(`fuzz: ${done} inputs in ${seconds} s (seed ${SEED}); ${list.length} distinct findings`);
    const cpu = process.cpuUsage(clientCpuAtStart);
    const perInput = (ms: number) => (ms / done).toFixed(2);
    console.log(
      `fuzz: CPU per input: server ${perInput(serverCpu() - serverCpuAtStart)} ms, ` +
        `this process ${perInput((cpu.user + cpu.system) / 1000)} ms`,
    );
    const slowest = Object.entries(latency)
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, 5);
    console.log(`fuzz: most answer time in ${slowest.map(([m, s]) => `${m} ${Math.round(s.ms / 1000)} s/${s.n}`).join(", ")}`);
    if (FINDINGS_FILE) {
      const sets = (_k: string, v: unknown) => (v instanceof Set ? [...v] : v);
      writeFileSync(FINDINGS_FILE, JSON.stringify(list, sets, 2));
    }
    const errorLines = servers.flatMap((s) => s.output().split("\n")).filter((l) => l.includes('"level":"error"'));
    const rendered = list.map(
      (f) =>
        `[${f.oracle}] ×${f.count} in ${f.rpcs.size} RPCs (${[...f.protocols].join(", ")}): ${f.answer}\n` +
        `    e.g. ${f.example.slice(0, 400)}\n    → ${f.exampleAnswer.slice(0, 300)}\n    at: ${f.at}`,
    );
    expect(rendered, `distinct findings; the server logged ${errorLines.length} error lines`).toEqual([]);
  });
});
