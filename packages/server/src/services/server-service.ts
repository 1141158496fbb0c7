import type { ServiceImpl } from "@connectrpc/connect";
import { ServerService } from "@engine-cloud/api";
import type { ServiceDeps } from "./deps.js";

export function createServerService(deps: Pick<ServiceDeps, "version">): ServiceImpl<typeof ServerService> {
  return {
    getServerInfo: () => ({ version: deps.version, api: "engine.cloud.v1", protocols: ["grpc", "grpc-web", "connect"] }),
  };
}
