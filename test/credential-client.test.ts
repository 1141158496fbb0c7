import { CredentialType, TokenKind } from "@engine-cloud/api";
import type { EngineCredentialClient } from "@engine-cloud/sdk";
import { CloudConfigError, createCredentialClient } from "@engine-cloud/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// EngineCredentialClient, as a runtime or a service uses it, against the real server.

let srv: TestServer;
let token: string;
let counter = 0;

beforeAll(async () => {
  srv = await startTestServer();
  ({ secret: token } = await srv.admin().tokens.createToken({ label: "runtime", kind: TokenKind.RUNTIME }));
});
afterAll(() => srv?.stop());

/** A client serving a project of its own (allowed), configured the way a runtime is: from its environment. */
async function runtimeClient(): Promise<{ client: EngineCredentialClient; project: string }> {
  const project = `svc-${++counter}`;
  await srv.admin().projects.allowProject({ name: project });
  const env = { ENGINE_CLOUD_URL: srv.url, ENGINE_OAUTH_API_KEY: token, ENGINE_CLOUD_PROJECT: project };
  return { client: createCredentialClient({ env }), project };
}

const apiKey = (value: string) => ({ type: CredentialType.API_KEY, keys: { api_key: value } });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe("credential client", () => {
  it('puts and gets "provider/alias" with its secret', async () => {
    const { client, project } = await runtimeClient();
    const put = await client.put("google/work", apiKey("g-1"));
    expect(put).toMatchObject({ project, provider: "google", alias: "work", version: 1n });
    expect((await client.get("google/work"))?.keys.api_key?.value).toBe("g-1");
  });

  it('gives a bare provider the alias "default"', async () => {
    const { client } = await runtimeClient();
    await client.put("hubspot", apiKey("h-1"));
    expect((await client.get({ provider: "hubspot", alias: "default" }))?.keys.api_key?.value).toBe("h-1");
  });

  it("gets by id", async () => {
    const { client } = await runtimeClient();
    const put = await client.put("slack", apiKey("s-1"));
    expect((await client.get(put.id))?.provider).toBe("slack");
  });

  it("answers undefined for a credential that does not exist", async () => {
    const { client } = await runtimeClient();
    expect(await client.get("nothing/here")).toBeUndefined();
  });

  it("prefers the project's own credential to a tenant-wide one of the same name", async () => {
    const { client } = await runtimeClient();
    await client.put({ project: "", provider: "openai", alias: "shared" }, apiKey("tenant-wide"));
    expect((await client.get("openai/shared"))?.keys.api_key?.value).toBe("tenant-wide");
    await client.put("openai/shared", apiKey("own"));
    expect((await client.get("openai/shared"))?.keys.api_key?.value).toBe("own");
  });

  it("lists every page, without secret values", async () => {
    const { client, project } = await runtimeClient();
    for (const alias of ["a", "b", "c", "d", "e"]) await client.put({ provider: "github", alias }, apiKey(`gh-${alias}`));
    const listed = await collect(client.list({ project, provider: "github", pageSize: 2 }));
    expect(listed.map((c) => c.alias)).toEqual(["a", "b", "c", "d", "e"]);
    expect(listed.every((c) => !c.keys.api_key?.value)).toBe(true);
  });

  it("deletes only at the expected version", async () => {
    const { client } = await runtimeClient();
    const put = await client.put("notion", apiKey("n-1"));
    const conflict = await failureOf(client.delete(put.id, { expectedVersion: 7 }));
    expect([conflict.codeName, conflict.reason]).toEqual(["aborted", "VERSION_CONFLICT"]);
    expect(await client.delete(put.id, { expectedVersion: 1 })).toBeGreaterThan(put.revision);
    expect(await client.get("notion")).toBeUndefined();
  });

  it("says which setting is missing", () => {
    expect(() => createCredentialClient({ env: { ENGINE_CLOUD_URL: srv.url } })).toThrow(CloudConfigError);
    expect(() => createCredentialClient({ env: {} })).toThrow(/ENGINE_CLOUD_URL/);
  });
});
