import type { ServiceImpl } from "@connectrpc/connect";
import { RuntimeService } from "@engine-cloud/api";

/** RuntimeService: the presence of runtimes (Watch streams). The contract first; presence follows. */
export function createRuntimeService(): ServiceImpl<typeof RuntimeService> {
  return {
    listRuntimes: () => ({ runtimes: [], nextPageToken: "" }),
  };
}
