"""A Python runtime for the fault suites: the engine_cloud client's EngineSyncProvider against one Cloud URL,
reporting on stdout, one JSON object a line, what it applies, so test/support/python-runtime.ts can hold it to
the same invariants as the SDK and grpc-js runtimes.

Lines: {"event": "open"} per stream opened; {"event": "pulled", "revision": r, "ids": [...]} after the first
snapshot; then {"event": kind, "revision": r, "id": ...} per event the stream applied (upsert, delete, reset,
caught_up; heartbeats are not reported). Reads ENGINE_OAUTH_API_KEY, ENGINE_OAUTH_API_URL and ENGINE_CLOUD_PROJECT
as Engine OSS leaves them; ENGINE_TEST_HEARTBEAT_SECONDS is the server's heartbeat. Ends when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import threading

from engine_cloud import EngineClientConfig, EngineCredentialClient, EngineSyncProvider

# Reentrant: main() holds it across the first snapshot, so no stream event is reported before "pulled".
_out = threading.RLock()


def emit(line: dict) -> None:
    with _out:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


class RecordingClient(EngineCredentialClient):
    def watch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        emit({"event": "open"})
        return super().watch(*args, **kwargs)


class RecordingProvider(EngineSyncProvider):
    def _apply(self, store, event):  # type: ignore[no-untyped-def]
        super()._apply(store, event)
        kind = event.WhichOneof("event")
        if kind == "heartbeat":
            return
        line = {"event": kind, "revision": event.revision}
        if kind in ("upsert", "delete"):
            line["id"] = getattr(event, kind).id
        emit(line)


class MemoryStore:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    def save(self, credential) -> None:  # type: ignore[no-untyped-def]
        self.ids.add(credential.id)

    def delete(self, credential_id: str) -> None:
        self.ids.discard(credential_id)


def main() -> None:
    heartbeat = float(os.environ.get("ENGINE_TEST_HEARTBEAT_SECONDS", "15"))
    client = RecordingClient(EngineClientConfig())
    provider = RecordingProvider(
        client=client, heartbeat_seconds=heartbeat, backoff_initial_seconds=0.05, backoff_max_seconds=0.5
    )
    store = MemoryStore()
    with _out:
        provider.sync_all(store)
        emit({"event": "pulled", "revision": provider.status().revision, "ids": sorted(store.ids)})
    sys.stdin.read()  # until the test closes our stdin
    provider.close()
    client.close()


if __name__ == "__main__":
    main()
