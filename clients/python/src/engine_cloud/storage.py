"""EngineCachedStorage: Engine OSS's CredentialStorage over a local storage, kept current by the sync.

Reads are served from the local storage (Engine OSS's encrypted files): while the stream is live that copy is
the Cloud's state; otherwise a Cloud-managed credential older than the TTL is fetched again, and the local copy
is served when the Cloud is unreachable. Lookups by provider name and alias use an index rebuilt from the local
storage at construction, so a runtime restarted during an outage still finds "hubspot". Deleting only ever
deletes the local copy: the Cloud is changed by its administrators, never by a runtime's cache.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ._oss import CredentialObject, CredentialStorage
from .credential_objects import is_engine_managed, name_of
from .errors import EngineCloudError, EngineNotFoundError, EngineUnavailableError
from .provider import EngineSyncProvider

log = logging.getLogger("engine_cloud.storage")

DEFAULT_ALIAS = "default"


class EngineCachedStorage(CredentialStorage):
    """Engine OSS constructs it as ``EngineCachedStorage(local_storage=..., engine_sync_provider=...,
    cache_ttl_seconds=300)``."""

    def __init__(
        self,
        local_storage: CredentialStorage,
        engine_sync_provider: EngineSyncProvider | None = None,
        cache_ttl_seconds: int = 300,
        prefer_local: bool = True,
        *,
        aden_provider: EngineSyncProvider | None = None,  # the keyword of the Aden lineage's constructor
    ) -> None:
        provider = engine_sync_provider or aden_provider
        if provider is None:
            raise TypeError("EngineCachedStorage needs engine_sync_provider=")
        self.local = local_storage
        self.provider = provider
        self.cache_ttl_seconds = cache_ttl_seconds
        self.prefer_local = prefer_local
        self._lock = threading.RLock()
        #: id -> (provider, alias, project) of every Cloud-managed credential held locally.
        self._names: dict[str, tuple[str, str, str]] = {}
        #: id -> monotonic time it was last saved from the Cloud in this process.
        self._saved_at: dict[str, float] = {}
        provider.attach_storage(self)
        self.rebuild_index()

    # ---- the index

    def rebuild_index(self) -> int:
        """Reads every local credential once and indexes the Cloud-managed ones; returns how many."""
        names: dict[str, tuple[str, str, str]] = {}
        for credential_id in self.local.list_all():
            try:
                credential = self.local.load(credential_id)
            except Exception as error:  # one unreadable file (another key, corruption) must not hide the rest
                log.warning("engine cloud cache: cannot read %s: %s", credential_id, error)
                continue
            name = name_of(credential) if credential is not None else None
            if name is not None:
                names[credential_id] = name
        with self._lock:
            self._names = names
        return len(names)

    def managed_ids(self) -> set[str]:
        with self._lock:
            return set(self._names)

    def _resolve(self, name: str) -> str | None:
        """The id for "provider/alias" or "provider": the "default" alias first, a project's own credential
        before a tenant-wide one of the same name."""
        provider, _, alias = name.partition("/")
        with self._lock:
            matches = [(n, i) for i, n in self._names.items() if n[0] == provider and (not alias or n[1] == alias)]
        if not matches:
            return None
        matches.sort(key=lambda m: (m[0][1] != DEFAULT_ALIAS, m[0][2] == "", m[0][1], m[1]))
        return matches[0][1]

    def _id_of(self, credential_id: str) -> str:
        with self._lock:
            if credential_id in self._names:
                return credential_id
        return self._resolve(credential_id) or credential_id

    # ---- CredentialStorage

    def save(self, credential: CredentialObject) -> None:
        self.local.save(credential)
        name = name_of(credential)
        with self._lock:
            if name is not None:
                self._names[credential.id] = name
                self._saved_at[credential.id] = time.monotonic()
            else:
                self._names.pop(credential.id, None)

    def load(self, credential_id: str) -> CredentialObject | None:
        resolved = self._id_of(credential_id)
        credential = self.local.load(resolved)
        if credential is None or not is_engine_managed(credential) or self._fresh(resolved):
            return credential
        try:
            current = self.provider.fetch(resolved)
        except EngineNotFoundError:
            current = None
        except EngineUnavailableError as error:
            log.info("engine cloud unreachable; serving the local copy of %s: %s", resolved, error)
            return credential
        except EngineCloudError as error:
            # Refused (e.g. a revoked key): what the runtime holds stays usable, as its cache file would.
            log.warning("engine cloud refused a fetch of %s; serving the local copy: %s", resolved, error)
            return credential
        if current is None:
            self.delete(resolved)  # gone from the Cloud (or no longer visible to this runtime)
            return None
        self.save(current)
        return current

    def _fresh(self, credential_id: str) -> bool:
        if self.provider.is_live:
            return True
        with self._lock:
            saved = self._saved_at.get(credential_id)
        return saved is not None and time.monotonic() - saved < self.cache_ttl_seconds

    def delete(self, credential_id: str) -> bool:
        resolved = self._id_of(credential_id)
        with self._lock:
            self._names.pop(resolved, None)
            self._saved_at.pop(resolved, None)
        return self.local.delete(resolved)

    def list_all(self) -> list[str]:
        return self.local.list_all()

    def exists(self, credential_id: str) -> bool:
        return self.local.exists(self._id_of(credential_id))

    # ---- lookups Engine OSS probes for

    def load_all_for_provider(self, provider_name: str) -> list[CredentialObject]:
        with self._lock:
            ids = sorted(i for i, n in self._names.items() if n[0] == provider_name)
        return [c for c in map(self.load, ids) if c is not None]

    def load_by_alias(self, provider_name: str, alias: str) -> CredentialObject | None:
        resolved = self._resolve(f"{provider_name}/{alias}")
        return self.load(resolved) if resolved is not None else None

    def get_cache_info(self) -> dict[str, Any]:
        status = self.provider.status()
        return {
            "managed": len(self.managed_ids()),
            "state": status.state,
            "revision": status.revision,
            "error": str(status.error) if status.error else None,
        }
