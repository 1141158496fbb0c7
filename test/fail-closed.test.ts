import { create, createFileRegistry, setExtension, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MethodOptionsSchema, type MethodOptions } from "@bufbuild/protobuf/wkt";
import { access, AccessSchema, ErrorReason, file_engine_cloud_v1_access, type Access } from "@engine-cloud/api";
import * as server from "@engine-cloud/server";
import { describe, expect, it } from "vitest";
import { API_SERVICES, createApp } from "../packages/server/src/app.js";
import { createAuthorizer } from "../packages/server/src/tenancy/access-interceptor.js";
import { AccessDeclarationError, buildAccessTable } from "../packages/server/src/tenancy/access-rules.js";
import type { RequestContext } from "../packages/server/src/tenancy/request-context.js";
import { SDK_API_SERVICES } from "./support/api-descriptors.js";
import { startTestServer } from "./support/test-server.js";

// Authorization is declared once, in the proto, and fails closed: an RPC
// without its (engine.cloud.v1.access) option stops the server from starting.
// The probe services here are built at test time from descriptors, exactly
// as buf would generate them, with the option left out or malformed.

type AccessInit = MessageInitShape<typeof AccessSchema>;

/** An RPC of a probe service: its name and its access option, if any. */
interface ProbeMethod {
  name: string;
  access?: AccessInit;
}

/** A service of package engine.cloud.v1 with the given methods, as a generated descriptor would describe it. */
function probeService(methods: ProbeMethod[]): DescService {
  const options = (a: AccessInit | undefined): MethodOptions | undefined => {
    if (a === undefined) return undefined;
    const o = create(MethodOptionsSchema);
    setExtension(o, access, create(AccessSchema, a) as Access);
    return o;
  };
  const file = create(FileDescriptorProtoSchema, {
    name: "engine/cloud/v1/fail_closed_probe.proto",
    package: "engine.cloud.v1",
    syntax: "proto3",
    dependency: ["engine/cloud/v1/access.proto"],
    messageType: [{ name: "ProbeRequest" }, { name: "ProbeResponse" }],
    service: [
      {
        name: "FailClosedProbeService",
        method: methods.map((m) => ({
          name: m.name,
          inputType: ".engine.cloud.v1.ProbeRequest",
          outputType: ".engine.cloud.v1.ProbeResponse",
          options: options(m.access),
        })),
      },
    ],
  });
  const registry = createFileRegistry(file, (name) =>
    name === file_engine_cloud_v1_access.name + ".proto" ? file_engine_cloud_v1_access : undefined,
  );
  const service = registry.getService("engine.cloud.v1.FailClosedProbeService");
  if (!service) throw new Error("the probe service did not build");
  return service;
}

const declared: ProbeMethod = { name: "Declared", access: { rule: { case: "permission", value: "projects.read" } } };
const undeclared: ProbeMethod = { name: "Undeclared" };

/** Every service the SDK exports from the engine.cloud.v1 package: the whole API. */
const SDK_SERVICES = SDK_API_SERVICES;

describe("access declarations fail closed", () => {
  it("builds the access table of a probe service whose every RPC declares its rule (the probe itself is sound)", () => {
    const probe = probeService([
      declared,
      { name: "Platform", access: { rule: { case: "platform", value: true } } },
      { name: "Mine", access: { rule: { case: "authenticated", value: true } } },
      { name: "Open", access: { rule: { case: "public", value: true } } },
    ]);
    const kinds = [...buildAccessTable([probe]).values()].map((r) => r.kind);
    expect(kinds).toEqual(["permission", "platform", "authenticated", "public"]);
  });

  it("refuses an RPC that declares no access option, naming it", () => {
    const probe = probeService([undeclared]);
    expect(() => buildAccessTable([probe])).toThrow(AccessDeclarationError);
    expect(() => buildAccessTable([probe])).toThrow(/engine\.cloud\.v1\.FailClosedProbeService\/Undeclared declares no/);
  });

  it("refuses the whole table when one RPC among declared ones has no option", () => {
    expect(() => buildAccessTable([...API_SERVICES, probeService([declared, undeclared])])).toThrow(AccessDeclarationError);
  });

  it("refuses an access option with no rule in it", () => {
    expect(() => buildAccessTable([probeService([{ name: "Empty", access: {} }])])).toThrow(AccessDeclarationError);
  });

  it("refuses a rule switched off (platform: false)", () => {
    const probe = probeService([{ name: "Off", access: { rule: { case: "platform", value: false } } }]);
    expect(() => buildAccessTable([probe])).toThrow(AccessDeclarationError);
  });

  it("refuses a permission that is not one of the server's permissions", () => {
    const probe = probeService([{ name: "Typo", access: { rule: { case: "permission", value: "projects.raed" } } }]);
    expect(() => buildAccessTable([probe])).toThrow(/unknown permission "projects\.raed"/);
  });

  it("makes the server refuse to start when a served service has an undeclared RPC", async () => {
    // The test reaches into the composition root's list of services, the one place that decides what is served.
    expect(server.createApp).toBe(createApp); // the server under test uses this very list
    const probe = probeService([declared, undeclared]);
    API_SERVICES.push(probe);
    try {
      await expect(startTestServer()).rejects.toThrow(AccessDeclarationError);
    } finally {
      API_SERVICES.splice(API_SERVICES.indexOf(probe), 1);
    }
  }, 120_000);

  it("refuses at request time a method missing from the access table, before looking at any credential", async () => {
    const unreachable = () => {
      throw new Error("the credential was looked at");
    };
    const authorize = createAuthorizer({
      rules: new Map(),
      verifier: { verify: unreachable, lookups: 0, flushLastUsed: async () => {}, close: async () => {} },
      directory: { find: unreachable, close: () => {} },
      limiter: { admitRequest: unreachable },
      browserSessions: { credentialOf: unreachable },
    });
    const ctx: RequestContext = { requestId: "fail-closed", peer: "127.0.0.1", userAgent: "" };
    await expect(authorize(ctx, "engine.cloud.v1.FailClosedProbeService/Undeclared", new Headers())).rejects.toMatchObject({
      kind: "permission_denied",
      reason: ErrorReason.PERMISSION_DENIED,
    });
    expect(ctx.caller).toBeUndefined();
  });
});

describe("the real API", () => {
  it("builds its access table without a missing or malformed declaration", () => {
    const table = buildAccessTable(API_SERVICES);
    expect(table.size).toBe(API_SERVICES.reduce((n, s) => n + s.methods.length, 0));
  });

  it("serves every service of the engine.cloud.v1 package, and only those", () => {
    expect(SDK_SERVICES.length).toBeGreaterThanOrEqual(9);
    expect(API_SERVICES.map((s) => s.typeName).sort()).toEqual(SDK_SERVICES.map((s) => s.typeName).sort());
  });

  it("gives every RPC of the package a rule, read from the same descriptors the SDK ships", () => {
    const table = buildAccessTable(SDK_SERVICES);
    const ruleless = SDK_SERVICES.flatMap((s) => s.methods).filter((m) => !table.has(m));
    expect(ruleless).toEqual([]);
  });
});
