import type { ServiceImpl } from "@connectrpc/connect";
import { KeyService } from "@engine-cloud/api";
import type { RootKeyRing } from "../crypto/root-keys.js";
import { rewrapTokenKey } from "../crypto/token-key.js";
import { originOf } from "../tenancy/request-context.js";
import type { ServiceDeps } from "./deps.js";

export function createKeyService(deps: Pick<ServiceDeps, "db" | "keys"> & { ring: RootKeyRing }): ServiceImpl<typeof KeyService> {
  return {
    async rotateRootKey(_req, ctx) {
      // The token key first: it is one row, and without it no token verifies after the old root key is retired.
      await rewrapTokenKey(deps.db, deps.ring);
      const { rewrapped, unchanged } = await deps.keys.rotateRoot(originOf(ctx));
      return { rootKeyId: deps.keys.rootKeyId, rewrapped, unchanged };
    },
  };
}
