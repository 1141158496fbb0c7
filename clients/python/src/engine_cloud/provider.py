"""EngineSyncProvider: Engine OSS's CredentialProvider for Cloud-managed credentials, and the live sync.

`sync_all(store)` takes a full snapshot with one Pull, then one Watch stream in a background thread applies
every later change to the same store as it commits. After a disconnect the stream resumes from the last
revision it applied, after a full-jitter backoff; it ends for good, with `stream_error` set, when the Cloud
refuses the runtime (revoked key, denied project), because only an administrator can change that answer.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._gen.engine.cloud.v1 import sync_service_pb2 as sync_pb
from ._oss import CredentialObject, CredentialProvider, CredentialRefreshError, CredentialType
from .client import EngineCredentialClient, iterate
from .credential_objects import access_token_expiry, is_engine_managed, to_credential_object
from .errors import (
    TERMINAL_ERRORS,
    EngineCloudError,
    EngineNotRefreshableError,
    EngineReauthorizationRequiredError,
    EngineUnavailableError,
)

if TYPE_CHECKING:
    from .storage import EngineCachedStorage

log = logging.getLogger("engine_cloud.sync")

PROVIDER_ID = "engine_sync"
#: The server's default heartbeat interval on an idle Watch stream (SERVER_HEARTBEAT_INTERVAL_MS in the SDK).
SERVER_HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class SyncStatus:
    #: "idle" (no stream yet), "connecting", "live" (caught up, receiving changes), "offline" (retrying),
    #: "stopped" (closed, or ended by the Cloud's refusal: see error).
    state: str
    revision: int
    error: EngineCloudError | None


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Full jitter: uniform in [0, min(maximum, initial·2^attempt)), so runtimes cut off together (a server
    restart) come back spread out rather than in waves."""
    return random.uniform(0, min(maximum, initial * 2 ** max(0, attempt)))


# The stores sync_all is given: Engine OSS's CredentialStore (save_credential / delete_credential, which keep
# its in-memory cache right) or any CredentialStorage (save / delete).
def _save(sink: Any, credential: CredentialObject) -> None:
    (sink.save_credential if hasattr(sink, "save_credential") else sink.save)(credential)


def _delete(sink: Any, credential_id: str) -> None:
    (sink.delete_credential if hasattr(sink, "delete_credential") else sink.delete)(credential_id)


class EngineSyncProvider(CredentialProvider):
    """Refreshes and validates Cloud-managed credentials, and keeps a store in sync with the Cloud.

    Engine OSS constructs it as ``EngineSyncProvider(client=client)`` and calls ``sync_all(store)`` once.
    """

    def __init__(
        self,
        client: EngineCredentialClient,
        provider_id: str = PROVIDER_ID,
        refresh_buffer_minutes: int = 5,
        *,
        watch: bool = True,
        runtime_name: str | None = None,
        runtime_version: str | None = None,
        backoff_initial_seconds: float = 0.25,
        backoff_max_seconds: float = 30.0,
        heartbeat_seconds: float = SERVER_HEARTBEAT_SECONDS,
        stale_after_seconds: float | None = None,
    ) -> None:
        self.client = client
        self._provider_id = provider_id
        self._refresh_buffer = timedelta(minutes=refresh_buffer_minutes)
        self._watch_enabled = watch
        #: How the runtime names itself in `engine-cloud runtime list` (default "engine-oss" inside Engine OSS).
        self._runtime = (runtime_name, runtime_version)
        self._backoff = (backoff_initial_seconds, backoff_max_seconds)
        #: The server sends a heartbeat at least this often on an idle stream (ENGINE_CLOUD_SYNC_HEARTBEAT_MS);
        #: a stream silent for three of them is dead (a half-open connection, a balancer that lost the
        #: backend without a reset) and is replaced, as the TypeScript SDK does.
        self._stale_after = stale_after_seconds if stale_after_seconds is not None else 3 * heartbeat_seconds
        self._last_event = time.monotonic()
        self._silenced: Any = None
        self._storage: EngineCachedStorage | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._call: Any = None
        self._stopping = threading.Event()
        self._live = threading.Event()
        self._revision = 0
        self._state = "idle"
        self._error: EngineCloudError | None = None
        #: During a snapshot (after RESET): the ids it carried so far.
        self._snapshot: set[str] | None = None

    # ---- CredentialProvider

    @property
    def provider_id(self) -> str:
        return self._provider_id

    @property
    def supported_types(self) -> list[CredentialType]:
        return [CredentialType.OAUTH2, CredentialType.BEARER_TOKEN]

    def can_handle(self, credential: CredentialObject) -> bool:
        # Strict: with only this provider registered, a looser test would send the runtime's own local API
        # keys to the Cloud for refresh.
        return credential.credential_type in self.supported_types and is_engine_managed(credential)

    def should_refresh(self, credential: CredentialObject) -> bool:
        expires = access_token_expiry(credential)
        return expires is not None and datetime.now(UTC) >= expires - self._refresh_buffer

    def refresh(self, credential: CredentialObject) -> CredentialObject:
        """A fresh access token from the connector hub. The provider's refresh token never leaves the Cloud."""
        try:
            result = self.client.refresh_credential(credential.id)
        except EngineReauthorizationRequiredError as error:
            url = error.reauthorization_url
            raise CredentialRefreshError(
                f"credential {credential.id} requires re-authorization" + (f". Visit: {url}" if url else "")
            ) from error
        except EngineNotRefreshableError as error:
            raise CredentialRefreshError(
                f"credential {credential.id} is not refreshed by the Cloud: {error}"
            ) from error
        except EngineUnavailableError as error:
            expires = access_token_expiry(credential)
            if expires is None or expires > datetime.now(UTC):
                log.warning("engine cloud unreachable; keeping the current token of %s: %s", credential.id, error)
                return credential
            raise CredentialRefreshError(
                f"Engine Cloud unreachable and the token of {credential.id} expired"
            ) from error
        except EngineCloudError as error:
            raise CredentialRefreshError(f"refresh of {credential.id} failed: {error}") from error
        return to_credential_object(result.credential, self.provider_id)

    def validate(self, credential: CredentialObject) -> bool:
        try:
            return self.client.validate_credential(credential.id).valid
        except EngineUnavailableError:
            expires = access_token_expiry(credential)
            return expires is None or expires > datetime.now(UTC)

    # ---- fetching and syncing

    def fetch(self, credential_id: str) -> CredentialObject | None:
        """The Cloud's current copy (secrets included), or None if it has none."""
        found = self.client.get_credential(credential_id)
        return to_credential_object(found, self.provider_id) if found is not None else None

    def attach_storage(self, storage: EngineCachedStorage) -> None:
        """Called by EngineCachedStorage: lets a snapshot find the local copies the Cloud no longer has."""
        self._storage = storage

    def sync_all(self, store: Any) -> int:
        """Saves every credential the project sees into `store` and starts the live stream; returns the count.

        Unreachable Cloud: returns 0 (the store keeps serving its local copy) and the stream keeps trying.
        Refused (invalid or revoked key, denied or unknown project): raises EngineAuthenticationError or
        EnginePolicyDeniedError with the server's reason.
        """
        try:
            pulled = self.client.pull(since_revision=0)
        except EngineUnavailableError as error:
            log.warning("engine cloud sync: cloud unreachable, serving the local copy: %s", error)
            self._start_watch(store)
            return 0
        seen: set[str] = set()
        for event in pulled.events:
            if event.WhichOneof("event") == "upsert":
                _save(store, to_credential_object(event.upsert, self.provider_id))
                seen.add(event.upsert.id)
        self._drop_missing(store, seen)
        with self._lock:
            self._revision = pulled.revision
        log.info("engine cloud sync: %d credentials at revision %d", len(seen), pulled.revision)
        self._start_watch(store)
        return len(seen)

    def _drop_missing(self, store: Any, seen: set[str]) -> None:
        """After a full snapshot: local Cloud-managed copies the snapshot lacks were deleted while away."""
        if self._storage is None:
            return
        for credential_id in self._storage.managed_ids() - seen:
            _delete(store, credential_id)

    # ---- the stream

    @property
    def is_live(self) -> bool:
        """Caught up and receiving changes: the local copy is the Cloud's current state."""
        return self._live.is_set()

    @property
    def stream_error(self) -> EngineCloudError | None:
        """Why the stream ended for good (EngineAuthenticationError / EnginePolicyDeniedError), else None."""
        return self._error if self._state == "stopped" else None

    def status(self) -> SyncStatus:
        with self._lock:
            return SyncStatus(self._state, self._revision, self._error)

    def wait_until_live(self, timeout: float | None = None) -> bool:
        return self._live.wait(timeout)

    def wait_until_stopped(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self) -> None:
        """Ends the stream and its thread. Idempotent."""
        self._stopping.set()
        call = self._call
        if call is not None:
            call.cancel()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _start_watch(self, store: Any) -> None:
        if not self._watch_enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(store,), name="engine-cloud-watch", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watch_for_silence, name="engine-cloud-watchdog", daemon=True).start()

    def _watch_for_silence(self) -> None:
        """Cancels the current stream once it has been silent past stale_after: grpc's blocking iterator would
        otherwise wait on a dead connection forever. The watch thread then reconnects from its revision."""
        tick = max(0.05, min(1.0, self._stale_after / 4))
        while not self._stopping.wait(tick):
            call = self._call
            if call is None or time.monotonic() - self._last_event < self._stale_after:
                continue
            self._silenced = call
            log.warning("engine cloud sync: the stream was silent for %.1fs; replacing it", self._stale_after)
            call.cancel()
            self.client.reset_channel()
            self._last_event = time.monotonic()

    def _set_state(self, state: str, error: EngineCloudError | None = None) -> None:
        with self._lock:
            self._state = state
            if error is not None or state == "live":
                self._error = error
        if state != "live":
            self._live.clear()

    def _run(self, store: Any) -> None:
        attempt = 0
        while not self._stopping.is_set():
            self._set_state("connecting")
            self._snapshot = None
            call: Any = None
            try:
                self._last_event = time.monotonic()
                self._call = call = self.client.watch(self._revision, *self._runtime)
                if self._stopping.is_set():  # close() ran before the call existed to be cancelled
                    call.cancel()
                for event in iterate(call):
                    self._last_event = time.monotonic()
                    attempt = 0
                    self._apply(store, event)
                error: EngineCloudError = EngineUnavailableError("the server ended the stream")
            except EngineCloudError as failure:
                # Our own watchdog's cancel arrives as a cancelled call: it is an outage, never terminal.
                error = EngineUnavailableError("the stream went silent") if self._silenced is call else failure
            except Exception as failure:  # a store that failed to save: log, back off, resume from the revision
                log.exception("engine cloud sync: applying a change failed")
                error = EngineCloudError(f"applying a change failed: {failure}")
            if self._stopping.is_set():
                break
            if isinstance(error, TERMINAL_ERRORS):
                log.error("engine cloud sync stopped: %s", error)
                self._set_state("stopped", error)
                return
            self._set_state("offline", error)
            delay = backoff_delay(attempt, *self._backoff)
            attempt += 1
            log.warning("engine cloud sync: %s; reconnecting in %.2fs from revision %d", error, delay, self._revision)
            self._stopping.wait(delay)
        self._set_state("stopped")

    def _apply(self, store: Any, event: sync_pb.WatchResponse) -> None:
        kind = event.WhichOneof("event")
        # During a snapshot (after RESET) the revision stays where it was until CAUGHT_UP: a stream cut
        # mid-snapshot resumes with a whole snapshot rather than from the middle of one.
        if kind == "reset":
            self._snapshot = set()
            return
        if kind == "upsert":
            _save(store, to_credential_object(event.upsert, self.provider_id))
            if self._snapshot is not None:
                self._snapshot.add(event.upsert.id)
                return
        elif kind == "delete":
            _delete(store, event.delete.id)
            if self._snapshot is not None:
                return
        elif kind == "caught_up":
            if self._snapshot is not None:
                self._drop_missing(store, self._snapshot)
                self._snapshot = None
            with self._lock:
                self._revision = max(self._revision, event.revision)
            self._set_state("live")
            self._live.set()
            return
        with self._lock:
            self._revision = max(self._revision, event.revision)
