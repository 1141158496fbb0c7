import type { ServiceImpl } from "@connectrpc/connect";
import { KeyService } from "@engine-cloud/sdk";
import type { ServiceDeps } from "./deps.js";

export function createKeyService(deps: Pick<ServiceDeps, "keys">): ServiceImpl<typeof KeyService> {
  return {
    async rotateRootKey() {
      const { rewrapped, unchanged } = await deps.keys.rotateRoot();
      return { rootKeyId: deps.keys.rootKeyId, rewrapped, unchanged };
    },
  };
}
