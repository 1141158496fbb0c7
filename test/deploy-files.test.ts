import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "@engine-cloud/server";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";

// The deployment examples, proved without a container engine: every file
// parses; every variable they set is one config.ts reads, and the values pass
// its parser; every probe, health check and port points at a route and port
// the server serves; no secret is written inline.

const DEPLOY = path.join(REPO_ROOT, "deploy");
const read = (rel: string) => readFileSync(path.join(DEPLOY, rel), "utf8");
const CONFIG_SOURCE = readFileSync(path.join(REPO_ROOT, "packages/server/src/config.ts"), "utf8");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

function yamlDocs(rel: string): Doc[] {
  return parseAllDocuments(read(rel), { merge: true }).map((d) => {
    expect(d.errors, `${rel}: ${d.errors.join("; ")}`).toEqual([]);
    return d.toJS();
  });
}

const KUBERNETES_FILES = readdirSync(path.join(DEPLOY, "kubernetes")).filter((f) => f.endsWith(".yaml"));
const kubernetes = KUBERNETES_FILES.flatMap((f) => yamlDocs(`kubernetes/${f}`).map((doc) => ({ file: f, doc })));
const compose = yamlDocs("compose/compose.yaml")[0];
const ofKind = (kind: string) => kubernetes.filter((k) => k.doc?.kind === kind).map((k) => k.doc);

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
const dockerfile = read("Dockerfile")
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"))
  .map((l) => {
    const [, op, rest] = /^(\S+)\s+(.*)$/.exec(l)!;
    return { op: op.toUpperCase(), rest };
  });
const finalStage = dockerfile.slice(dockerfile.map((i) => i.op).lastIndexOf("FROM"));
const dockerEnv: Record<string, string> = Object.fromEntries(
  finalStage.filter((i) => i.op === "ENV").flatMap((i) => [...i.rest.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])),
);

/** Containers that run the server image (compose services and Kubernetes pods alike), with the env they set. */
interface ServerContainer {
  where: string;
  env: Record<string, string>;
  /** Variables given by reference (secretKeyRef), not by value. */
  referenced: string[];
  /** Paths under which secrets are mounted as files. */
  secretMounts: string[];
  args: string[];
}

function composeContainers(): ServerContainer[] {
  return Object.entries(compose.services as Record<string, Doc>)
    .filter(([, s]) => String(s.image).startsWith("engine-cloud"))
    .map(([name, s]) => ({
      where: `compose service ${name}`,
      env: Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)])),
      referenced: [],
      secretMounts: (s.secrets ?? []).map((secret: string) => {
        expect(compose.secrets[secret]?.file, `compose secret ${secret} is a file`).toMatch(/^\.\/secrets\//);
        return `/run/secrets/${secret}`;
      }),
      args: s.command ?? [],
    }));
}

function kubernetesContainers(): ServerContainer[] {
  const pods = [...ofKind("Deployment"), ...ofKind("Job")].map((d) => ({ name: d.metadata.name, spec: d.spec.template.spec }));
  return pods.flatMap(({ name, spec }) =>
    spec.containers.map((c: Doc) => {
      const secretVolumes = new Set(spec.volumes.filter((v: Doc) => v.secret).map((v: Doc) => v.name));
      return {
        where: `kubernetes ${name}/${c.name}`,
        env: Object.fromEntries(c.env.filter((e: Doc) => "value" in e).map((e: Doc) => [e.name, String(e.value)])),
        referenced: c.env.filter((e: Doc) => e.valueFrom).map((e: Doc) => e.name),
        secretMounts: c.volumeMounts.filter((m: Doc) => secretVolumes.has(m.name)).map((m: Doc) => m.mountPath),
        args: c.args ?? [],
      };
    }),
  );
}

const containers = [...composeContainers(), ...kubernetesContainers()];
/** Set by the platform or Node itself, not by config.ts. */
const NOT_OURS = new Set(["NODE_ENV"]);
const SECRET_NAME = /TOKEN|KEY|PASSWORD|SECRET|DATABASE_URL/;

/** config.ts reads the variable: by its full name, or (transport and limit settings) by the name after the prefix. */
const configReads = (name: string) =>
  CONFIG_SOURCE.includes(`"${name}"`) ||
  CONFIG_SOURCE.includes(`env.${name}`) ||
  CONFIG_SOURCE.includes(`"${name.replace(/^ENGINE_CLOUD_/, "")}"`);

const portOf = (hostPort: string) => Number(/:(\d+)$/.exec(hostPort)![1]);

describe("every deployment file", () => {
  it("parses (YAML, and the Dockerfile's instructions)", () => {
    expect(KUBERNETES_FILES.sort()).toEqual(["deployment.yaml", "ingress.yaml", "migrate-job.yaml", "pdb.yaml", "service.yaml"]);
    expect(kubernetes.every((k) => typeof k.doc?.kind === "string" && typeof k.doc?.apiVersion === "string")).toBe(true);
    expect(Object.keys(compose.services).sort()).toEqual(["engine-cloud", "haproxy", "migrate", "postgres"]);
    const known = new Set([
      "FROM",
      "ARG",
      "WORKDIR",
      "COPY",
      "RUN",
      "ENV",
      "USER",
      "VOLUME",
      "EXPOSE",
      "HEALTHCHECK",
      "ENTRYPOINT",
      "CMD",
    ]);
    expect(dockerfile.filter((i) => !known.has(i.op))).toEqual([]);
  });

  it.runIf(existsSync("/usr/sbin/haproxy"))("includes an HAProxy configuration HAProxy accepts", () => {
    expect(() =>
      execFileSync("/usr/sbin/haproxy", ["-c", "-f", path.join(DEPLOY, "haproxy/haproxy.cfg")], { stdio: "pipe" }),
    ).not.toThrow();
  });
});

describe("the variables the examples set", () => {
  it("are every one read by config.ts", () => {
    const sets = [
      ...Object.keys(dockerEnv).map((name) => ({ where: "Dockerfile", name })),
      ...containers.flatMap((c) => [...Object.keys(c.env), ...c.referenced].map((name) => ({ where: c.where, name }))),
    ];
    expect(sets.length).toBeGreaterThan(10);
    expect(sets.filter(({ name }) => !NOT_OURS.has(name) && !configReads(name))).toEqual([]);
  });

  it("pass config.ts's parser, with the image's defaults and the secrets as files", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-deploy-"));
    try {
      // What each secret file would hold: a value of the right shape, never one from the repository.
      const secretValue = (file: string) =>
        /root.key/.test(file)
          ? randomBytes(32).toString("base64")
          : /database.url/.test(file)
            ? "postgres://engine_cloud:x@postgres:5432/engine_cloud"
            : randomBytes(32).toString("hex");
      for (const c of containers) {
        const env: Record<string, string> = { ...dockerEnv, ENGINE_CLOUD_DATA_DIR: dir };
        for (const [name, value] of Object.entries(c.env)) {
          if (!name.endsWith("_FILE")) {
            env[name] = value;
            continue;
          }
          const local = path.join(dir, randomBytes(4).toString("hex"));
          writeFileSync(local, secretValue(value) + "\n");
          env[name] = local;
        }
        expect(() => loadConfig([], env), c.where).not.toThrow();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("give no secret inline: secrets are files mounted from secrets", () => {
    for (const c of containers) {
      for (const [name, value] of Object.entries(c.env)) {
        if (!SECRET_NAME.test(name)) continue;
        expect(name, `${c.where}: ${name} is set inline`).toMatch(/_FILE$/);
        expect(
          c.secretMounts.some((m) => value.startsWith(m)),
          `${c.where}: ${name}=${value} is under a secret mount`,
        ).toBe(true);
      }
    }
    expect(Object.keys(dockerEnv).filter((n) => SECRET_NAME.test(n))).toEqual([]);
  });

  it("contain nothing that looks like a key or token, in any file", () => {
    for (const file of [
      "Dockerfile",
      "compose/compose.yaml",
      "haproxy/haproxy.cfg",
      ...KUBERNETES_FILES.map((f) => `kubernetes/${f}`),
    ]) {
      expect(read(file).match(/\b[A-Za-z0-9+/]{40,}={0,2}|\b[0-9a-f]{32,}\b/g), file).toBeNull();
    }
  });
});

describe("probes, health checks and ports", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  /** The status the server answers a GET of `route` with. */
  const served = async (route: string) => (await fetch(`${server.url}${route}`)).status;

  it("Kubernetes probes ask the server's own health routes on its API port", async () => {
    const [deployment] = ofKind("Deployment");
    const [container] = deployment.spec.template.spec.containers;
    const env = Object.fromEntries(container.env.map((e: Doc) => [e.name, e.value]));
    const ports = Object.fromEntries(container.ports.map((p: Doc) => [p.name, p.containerPort]));
    expect(ports.api).toBe(portOf(env.ENGINE_CLOUD_LISTEN));
    expect(ports.metrics).toBe(portOf(env.ENGINE_CLOUD_METRICS_ADDR));
    const probes = ["livenessProbe", "readinessProbe", "startupProbe"].map((p) => container[p].httpGet);
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    for (const probe of probes) {
      expect(ports[probe.port], `probe port ${probe.port}`).toBe(ports.api);
      expect(await served(probe.path), probe.path).toBe(200);
    }
    const annotations = deployment.spec.template.metadata.annotations;
    expect(Number(annotations["prometheus.io/port"])).toBe(ports.metrics);
    expect(annotations["prometheus.io/path"]).toBe("/metrics");
  });

  it("Kubernetes services, the disruption budget and the Job point at the Deployment's pods and ports", () => {
    const [deployment] = ofKind("Deployment");
    const labels = deployment.spec.template.metadata.labels;
    const portNames = deployment.spec.template.spec.containers[0].ports.map((p: Doc) => p.name);
    for (const service of ofKind("Service")) {
      expect(service.spec.selector).toEqual(labels);
      for (const p of service.spec.ports) expect(portNames).toContain(p.targetPort);
    }
    expect(ofKind("PodDisruptionBudget")[0].spec.selector.matchLabels).toEqual(labels);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const [job] = ofKind("Job");
    expect(job.spec.template.spec.containers[0].image).toBe(deployment.spec.template.spec.containers[0].image);
    expect(job.spec.template.spec.containers[0].args).toEqual(["migrate"]);
    const ingressBackend = ofKind("Ingress")[0].spec.rules[0].http.paths[0].backend.service;
    expect(ofKind("Service").map((s) => s.metadata.name)).toContain(ingressBackend.name);
  });

  it("Kubernetes resource requests hold at least the measured memory of 5,000 streams", () => {
    const mebibytes = (q: string) => Number(/^(\d+)Mi$/.exec(q)![1]);
    const { requests, limits } = ofKind("Deployment")[0].spec.template.spec.containers[0].resources;
    // docs/BENCHMARKS.md, "Soak": 690 MB RSS at 5,000 streams after ten minutes of writes.
    expect(mebibytes(requests.memory)).toBeGreaterThanOrEqual(690);
    // ...plus 128 MiB per password hash in flight.
    expect(mebibytes(limits.memory)).toBeGreaterThanOrEqual(690 + 3 * 128);
  });

  it("the image's health check asks the readiness route on the port it listens on", async () => {
    const check = finalStage.find((i) => i.op === "HEALTHCHECK")!.rest;
    const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(check)!;
    expect(Number(url[1])).toBe(portOf(dockerEnv.ENGINE_CLOUD_LISTEN));
    expect(url[2]).toBe("/readyz");
    expect(await served(url[2])).toBe(200);
  });

  it("the image runs as a user without privilege, node as PID 1 in exec form, production dependencies only", () => {
    expect(dockerfile.filter((i) => i.op === "FROM").length).toBeGreaterThanOrEqual(3);
    const user = finalStage.filter((i) => i.op === "USER").at(-1)?.rest;
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
    const entrypoint = JSON.parse(finalStage.find((i) => i.op === "ENTRYPOINT")!.rest);
    expect(entrypoint[0]).toBe("node");
    expect(existsSync(path.join(REPO_ROOT, entrypoint[1].replace(/^\/app\//, "")))).toBe(true);
    expect(JSON.parse(finalStage.find((i) => i.op === "CMD")!.rest)).toEqual(["serve"]);
    expect(dockerfile.some((i) => i.op === "RUN" && i.rest.includes("npm ci --omit=dev"))).toBe(true);
  });

  it("the image copies every workspace's package.json, so a new workspace cannot be left out", () => {
    const workspaces: string[] = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).workspaces;
    const copied = dockerfile.filter((i) => i.op === "COPY" && !i.rest.startsWith("--from")).map((i) => i.rest.split(/\s+/)[0]);
    for (const w of workspaces) expect(copied, w).toContain(`${w}/package.json`);
    for (const source of copied) expect(existsSync(path.join(REPO_ROOT, source)), source).toBe(true);
  });

  it("compose runs two or more replicas after the migration, behind HAProxy on their API port", async () => {
    const replicas = compose.services["engine-cloud"];
    expect(replicas.deploy.replicas).toBeGreaterThanOrEqual(2);
    expect(replicas.depends_on.migrate.condition).toBe("service_completed_successfully");
    expect(compose.services.migrate.command).toEqual(["migrate"]);
    const haproxy = read("haproxy/haproxy.cfg");
    const target = /server-template \S+ \d+ engine-cloud:(\d+)/.exec(haproxy)!;
    expect(Number(target[1])).toBe(portOf(replicas.environment.ENGINE_CLOUD_LISTEN));
    const check = /option httpchk GET (\S+) HTTP\/1\.1/.exec(haproxy)![1];
    expect(await served(check)).toBe(200);
    expect(compose.services.haproxy.volumes[0]).toMatch(/^\.\.\/haproxy\/haproxy\.cfg:/);
  });
});
