import type { ServiceImpl } from "@connectrpc/connect";
import { KeyService } from "@engine-cloud/api";
import type { RootKeyRing } from "../crypto/root-keys.js";
import { rewrapTokenKey } from "../crypto/token-key.js";
import { rewrapAuditKey } from "../crypto/audit-signer.js";
import { originOf } from "../tenancy/request-context.js";
import { withPlatform } from "../store/with-tenant.js";
import type { ServiceDeps } from "./deps.js";

export function createKeyService(deps: Pick<ServiceDeps, "db" | "keys"> & { ring: RootKeyRing }): ServiceImpl<typeof KeyService> {
  return {
    async rotateRootKey(_req, ctx) {
      // The token key first: it is one row, and without it no token verifies after the old root key is retired.
      await rewrapTokenKey(deps.db, deps.ring);
      await rewrapAuditKey(deps.db, deps.ring);
      const { rewrapped, unchanged } = await deps.keys.rotateRoot(originOf(ctx));
      // Each tenant's rewrap is an event in its chain; the rotation as a whole is one in the platform's.
      await withPlatform(deps.db, originOf(ctx), async ({ audit }) =>
        audit.record({ action: "key.rotate_root", target: `root_key:${deps.keys.rootKeyId}`, detail: { rewrapped, unchanged } }),
      );
      return { rootKeyId: deps.keys.rootKeyId, rewrapped, unchanged };
    },
  };
}
