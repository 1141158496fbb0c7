import type { DescMethod, DescService } from "@bufbuild/protobuf";
import * as api from "@engine-cloud/api";

/**
 * Every service of the engine.cloud.v1 API, found among the API package's exports by
 * their generated descriptors: a service or method added later is swept by
 * every suite that uses this, without anyone listing it.
 */
export const SDK_API_SERVICES: DescService[] = (Object.values(api) as unknown[])
  .filter((v): v is DescService => typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "service")
  .filter((s) => s.typeName.startsWith("engine.cloud.v1."))
  .sort((a, b) => a.typeName.localeCompare(b.typeName));

/** Every RPC of those services. */
export const SDK_API_METHODS: DescMethod[] = SDK_API_SERVICES.flatMap((s) => s.methods);

/** "engine.cloud.v1.TokenService/CreateToken" */
export const fullMethodName = (m: DescMethod) => `${m.parent.typeName}/${m.name}`;
