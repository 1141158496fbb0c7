import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "@engine-cloud/api/gen/grpc/health/v1/health_pb.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHealthService, ServingStatus, type HealthService } from "./health.js";

const TOKEN_SERVICE = "engine.cloud.v1.TokenService";

describe("grpc.health.v1.Health, called by @grpc/grpc-js over h2c", () => {
  let health: HealthService;
  let client: HealthClient;
  let watchesEnded: number;
  let stop: () => Promise<void>;

  beforeEach(async () => {
    health = createHealthService();
    health.setStatus(TOKEN_SERVICE, ServingStatus.SERVING);
    watchesEnded = 0;
    const countEndedWatches = async function* <T>(messages: AsyncIterable<T>) {
      try {
        yield* messages;
      } finally {
        watchesEnded++;
      }
    };
    ({ client, stop } = await startHealthServer({
      ...health.impl,
      watch: (request, context) => countEndedWatches(health.impl.watch(request, context)),
    }));
  });
  afterEach(() => stop());

  it("reports the whole server SERVING under the empty name", async () => {
    expect(await check(client, "")).toBe("SERVING");
  });

  it("reports a service marked down as NOT_SERVING", async () => {
    health.setStatus(TOKEN_SERVICE, ServingStatus.NOT_SERVING);
    expect(await check(client, TOKEN_SERVICE)).toBe("NOT_SERVING");
  });

  it("answers NOT_FOUND for a service it has no status for", async () => {
    await expect(check(client, "engine.cloud.v1.NoSuchService")).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it("lists every service it has a status for", async () => {
    health.setStatus(TOKEN_SERVICE, ServingStatus.NOT_SERVING);
    const listed = await new Promise<{ statuses: Record<string, { status: string }> }>((resolve, reject) =>
      client.List({}, (err, res) => (err ? reject(err) : resolve(res!))),
    );
    expect(listed.statuses).toEqual({ "": { status: "SERVING" }, [TOKEN_SERVICE]: { status: "NOT_SERVING" } });
  });

  it("streams the current status on Watch, then each change", async () => {
    const watch = watchStatuses(client, TOKEN_SERVICE);
    expect(await watch.next()).toBe("SERVING");
    health.setStatus(TOKEN_SERVICE, ServingStatus.NOT_SERVING);
    expect(await watch.next()).toBe("NOT_SERVING");
    health.setStatus(TOKEN_SERVICE, ServingStatus.SERVING);
    expect(await watch.next()).toBe("SERVING");
    watch.cancel();
  });

  it("keeps watching a service that is unknown until it appears", async () => {
    const watch = watchStatuses(client, "engine.cloud.v1.ProjectService");
    expect(await watch.next()).toBe("SERVICE_UNKNOWN");
    health.setStatus("engine.cloud.v1.ProjectService", ServingStatus.SERVING);
    expect(await watch.next()).toBe("SERVING");
    watch.cancel();
  });

  it("reports NOT_SERVING and ends every Watch on shutdown", async () => {
    const watch = watchStatuses(client, "");
    expect(await watch.next()).toBe("SERVING");
    health.shutdown();
    expect(await watch.next()).toBe("NOT_SERVING");
    await expect(watch.ended).resolves.toBeUndefined();
    expect(await check(client, TOKEN_SERVICE)).toBe("NOT_SERVING");
  });

  it("ignores status changes after shutdown", async () => {
    health.shutdown();
    health.setStatus("", ServingStatus.SERVING);
    expect(await check(client, "")).toBe("NOT_SERVING");
  });

  it("stops the server side of a Watch when the client cancels", async () => {
    const watch = watchStatuses(client, "");
    expect(await watch.next()).toBe("SERVING");
    expect(watchesEnded).toBe(0);
    watch.cancel();
    await expect.poll(() => watchesEnded).toBe(1);
  });
});

type HealthClient = grpc.Client & {
  Check(request: { service: string }, options: grpc.CallOptions, callback: grpc.requestCallback<{ status: string }>): void;
  List(request: object, callback: grpc.requestCallback<{ statuses: Record<string, { status: string }> }>): void;
  Watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

async function startHealthServer(impl: HealthService["impl"]) {
  const server = http2.createServer(connectNodeAdapter({ routes: (router) => router.service(Health, impl) }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const definition = protoLoader.loadSync("grpc/health/v1/health.proto", {
    includeDirs: [new URL("../../../../proto", import.meta.url).pathname],
    enums: String,
  });
  const { grpc: loaded } = grpc.loadPackageDefinition(definition) as any;
  const client: HealthClient = new loaded.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const stop = async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return { client, stop };
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res!.status))),
  );
}

/** One Watch call, read one status at a time; `ended` settles when the server ends the stream. */
function watchStatuses(client: HealthClient, service: string) {
  const call = client.Watch({ service });
  const received: string[] = [];
  const waiting: ((status: string) => void)[] = [];
  call.on("data", ({ status }: { status: string }) => {
    const reader = waiting.shift();
    if (reader) reader(status);
    else received.push(status);
  });
  const ended = new Promise<void>((resolve, reject) => {
    call.on("end", () => resolve());
    call.on("error", (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
  });
  ended.catch(() => {});
  return {
    next: () => new Promise<string>((resolve) => (received.length ? resolve(received.shift()!) : waiting.push(resolve))),
    ended,
    cancel: () => call.cancel(),
  };
}
