import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { spawnServerProcess, type ServerProcess } from "./test-server.js";

/** Two server processes on one fresh PostgreSQL database, as behind a load balancer. */
export interface ServerPair {
  a: ServerProcess;
  b: ServerProcess;
  database: TestDatabase;
  stop(): Promise<void>;
}

export async function startServerPair(adminToken: string, env: Record<string, string> = {}): Promise<ServerPair> {
  const database = await createTestDatabase();
  const shared = {
    DATABASE_URL: database.databaseUrl!,
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    ...env,
  };
  const [a, b] = await Promise.all([spawnServerProcess(shared), spawnServerProcess(shared)]);
  return {
    a,
    b,
    database,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
      await database.drop();
    },
  };
}

/** A client of one process of the pair. */
export const on = (proc: ServerProcess, token: string, tenant?: string): CloudClient =>
  createCloudClient({ baseUrl: proc.url, token, tenant });
