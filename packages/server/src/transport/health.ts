import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthListResponseSchema,
} from "@engine-cloud/api/gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** The name health checks use for the server as a whole. */
export const WHOLE_SERVER = "";

export interface HealthService {
  impl: ServiceImpl<typeof Health>;
  /** Ignored after shutdown(), so a draining server cannot be reported healthy again. */
  setStatus(service: string, status: ServingStatus): void;
  /** The status health checks report for the service now (SERVICE_UNKNOWN for one never named). */
  status(service: string): ServingStatus;
  /** Marks everything NOT_SERVING, tells every watcher, then ends their streams. */
  shutdown(): void;
}

/**
 * gRPC health checking (grpc/health/v1, doc/health-checking.md). The whole server ("") starts
 * SERVING; name each service with setStatus() to make it checkable.
 */
export function createHealthService(): HealthService {
  const statuses = new Map<string, ServingStatus>([[WHOLE_SERVER, ServingStatus.SERVING]]);
  // One wake-up per open Watch. Watchers re-read `statuses` when woken, so a slow client
  // skips intermediate states (as the spec allows) and nothing queues up per watcher.
  const wakeWatchers = new Set<() => void>();
  let isShutDown = false;

  function changed(): void {
    for (const wake of [...wakeWatchers]) wake();
  }

  function nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        wakeWatchers.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      wakeWatchers.add(wake);
      signal.addEventListener("abort", wake);
    });
  }

  const impl: ServiceImpl<typeof Health> = {
    check(request) {
      const status = statuses.get(request.service);
      if (status === undefined) {
        throw new ConnectError(
          `health: no status for service "${request.service}"; check "" for the whole server or a service this server lists`,
          Code.NotFound,
        );
      }
      return create(HealthCheckResponseSchema, { status });
    },

    list() {
      const entries = [...statuses].map(([service, status]) => [service, create(HealthCheckResponseSchema, { status })]);
      return create(HealthListResponseSchema, { statuses: Object.fromEntries(entries) });
    },

    async *watch(request, context) {
      let sent: ServingStatus | undefined;
      while (!context.signal.aborted) {
        const status = statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== sent) {
          sent = status;
          yield create(HealthCheckResponseSchema, { status });
          // A change may have landed while the client was reading; look again before waiting.
          continue;
        }
        if (isShutDown) return;
        await nextChange(context.signal);
      }
    },
  };

  return {
    impl,
    setStatus(service, status) {
      if (isShutDown || statuses.get(service) === status) return;
      statuses.set(service, status);
      changed();
    },
    status: (service) => statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN,
    shutdown() {
      if (isShutDown) return;
      isShutDown = true;
      for (const service of statuses.keys()) statuses.set(service, ServingStatus.NOT_SERVING);
      changed();
    },
  };
}
