import { create, createFileRegistry, setExtension, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  MethodOptions_IdempotencyLevel,
  MethodOptionsSchema,
  type MethodOptions,
} from "@bufbuild/protobuf/wkt";
import {
  audit,
  AuditSchema,
  file_engine_cloud_v1_access,
  file_engine_cloud_v1_audit,
  secret_bearing,
  type Audit,
} from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { API_SERVICES } from "../packages/server/src/app.js";
import { AuditDeclarationError, buildAuditTable } from "../packages/server/src/tenancy/audit-rules.js";

// Every RPC says in the proto what the audit log records of it, like its
// access rule: an RPC that changes something or returns a secret names its
// action, and only a read without secret may say it records nothing. The
// probe services are built from descriptors as buf would generate them, so
// the check is shown to fail for the RPCs a later change adds (a refresh, a
// runtime listing) until they are declared.

type AuditInit = MessageInitShape<typeof AuditSchema>;

interface ProbeMethod {
  name: string;
  audit?: AuditInit;
  readOnly?: boolean;
  secret?: boolean;
}

function probeService(methods: ProbeMethod[]): DescService {
  const options = (m: ProbeMethod): MethodOptions => {
    const o = create(MethodOptionsSchema, {
      idempotencyLevel: m.readOnly ? MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS : undefined,
    });
    if (m.audit) setExtension(o, audit, create(AuditSchema, m.audit) as Audit);
    if (m.secret) setExtension(o, secret_bearing, true);
    return o;
  };
  const file = create(FileDescriptorProtoSchema, {
    name: "engine/cloud/v1/audit_probe.proto",
    package: "engine.cloud.v1",
    syntax: "proto3",
    dependency: ["engine/cloud/v1/access.proto", "engine/cloud/v1/audit.proto"],
    messageType: [{ name: "ProbeRequest" }, { name: "ProbeResponse" }],
    service: [
      {
        name: "AuditProbeService",
        method: methods.map((m) => ({
          name: m.name,
          inputType: ".engine.cloud.v1.ProbeRequest",
          outputType: ".engine.cloud.v1.ProbeResponse",
          options: options(m),
        })),
      },
    ],
  });
  const deps = new Map([file_engine_cloud_v1_access, file_engine_cloud_v1_audit].map((f) => [f.name + ".proto", f]));
  const service = createFileRegistry(file, (name) => deps.get(name)).getService("engine.cloud.v1.AuditProbeService");
  if (!service) throw new Error("the probe service did not build");
  return service;
}

const action = (value: string): AuditInit => ({ rule: { case: "action", value } });
const notAudited: AuditInit = { rule: { case: "notAudited", value: "read without secret" } };

describe("audit declarations", () => {
  it("accepts an action on a mutation and a secret read, and 'not audited' on a plain read (the probe is sound)", () => {
    const table = buildAuditTable([
      probeService([
        { name: "Change", audit: action("thing.change") },
        { name: "ReadSecret", audit: action("thing.read"), readOnly: true, secret: true },
        { name: "List", audit: notAudited, readOnly: true },
      ]),
    ]);
    expect([...table.values()].map((r) => r.kind)).toEqual(["action", "action", "not_audited"]);
  });

  it("refuses an RPC with no audit option, naming it", () => {
    expect(() => buildAuditTable([probeService([{ name: "RefreshCredential" }])])).toThrow(
      /engine\.cloud\.v1\.AuditProbeService\/RefreshCredential declares no \(engine\.cloud\.v1\.audit\)/,
    );
  });

  it("refuses an undeclared read too: every RPC decides", () => {
    expect(() => buildAuditTable([probeService([{ name: "ListRuntimes", readOnly: true }])])).toThrow(AuditDeclarationError);
  });

  it("refuses 'not audited' on a mutating RPC", () => {
    expect(() => buildAuditTable([probeService([{ name: "Change", audit: notAudited }])])).toThrow(
      /is not NO_SIDE_EFFECTS and so must declare an audit action/,
    );
  });

  it("refuses 'not audited' on a secret-bearing read", () => {
    expect(() => buildAuditTable([probeService([{ name: "Peek", audit: notAudited, readOnly: true, secret: true }])])).toThrow(
      /returns secrets and so must declare an audit action/,
    );
  });

  it("refuses an empty option, a malformed action and an undocumented reason", () => {
    expect(() => buildAuditTable([probeService([{ name: "Empty", audit: {} }])])).toThrow(/empty/);
    expect(() => buildAuditTable([probeService([{ name: "Bad", audit: action("Credential Put") }])])).toThrow(/malformed/);
    const why: AuditInit = { rule: { case: "notAudited", value: "too noisy" } };
    expect(() => buildAuditTable([probeService([{ name: "Noisy", audit: why, readOnly: true }])])).toThrow(/must say/);
  });

  it("holds for every RPC the server serves", () => {
    const table = buildAuditTable(API_SERVICES);
    expect(table.size).toBe(API_SERVICES.reduce((n, s) => n + s.methods.length, 0));
    const actions = [...table].filter(([, r]) => r.kind === "action").map(([m]) => `${m.parent.name}/${m.name}`);
    expect(actions).toEqual(expect.arrayContaining(["CredentialService/GetCredential", "AuthService/Login"]));
  });
});
