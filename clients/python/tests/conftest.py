"""One real server for the session; a fresh tenant per test; runtime settings only through the environment,
as Engine OSS leaves them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from engine_cloud import EngineCachedStorage, EngineClientConfig, EngineCredentialClient, EngineSyncProvider

from cloud_admin import TenantAdmin
from cloud_server import CloudServer, TestDatabase
from fernet_storage import FernetFileStorage
from oss_store import OssStore

#: How long a pushed change may take to show. The stream delivers in milliseconds; this bound leaves room for
#: a loaded 2-core CI machine, like PROMPTLY_MS in test/sync-provider.test.ts.
PROMPTLY_SECONDS = 3.0


def eventually(check: Callable[[], object], what: str, timeout: float = PROMPTLY_SECONDS) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def cloud() -> Iterator[CloudServer]:
    database = TestDatabase()
    server = CloudServer(database).start()
    yield server
    server.stop()
    database.drop()


@pytest.fixture
def tenant(cloud: CloudServer) -> Iterator[TenantAdmin]:
    admin = TenantAdmin(cloud.url, cloud.admin_token)
    yield admin
    admin.close()


@pytest.fixture(autouse=True)
def runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENGINE_OAUTH_API_KEY", "ENGINE_CLOUD_URL", "ENGINE_OAUTH_API_URL", "ENGINE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENGINE_CREDENTIAL_KEY", Fernet.generate_key().decode())


class Runtime:
    """What `CredentialStore.with_engine_sync(base_url="https://api.localhost")` builds, on the local encrypted
    files in `path`."""

    def __init__(self, path: Path) -> None:
        self.client = EngineCredentialClient(EngineClientConfig(base_url="https://api.localhost"))
        self.provider = EngineSyncProvider(client=self.client, backoff_max_seconds=1.0)
        self.storage = EngineCachedStorage(
            local_storage=FernetFileStorage(path), engine_sync_provider=self.provider, cache_ttl_seconds=300
        )
        self.store = OssStore(self.storage, [self.provider])

    def sync(self) -> int:
        return self.provider.sync_all(self.store)

    def close(self) -> None:
        self.provider.close()
        self.client.close()


@pytest.fixture
def start_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Runtime]]:
    """A runtime with ENGINE_OAUTH_API_KEY and ENGINE_OAUTH_API_URL set (and ENGINE_CLOUD_PROJECT if given)."""
    started: list[Runtime] = []

    def start(url: str, key: str, project: str | None = None, path: Path | None = None) -> Runtime:
        monkeypatch.setenv("ENGINE_OAUTH_API_KEY", key)
        monkeypatch.setenv("ENGINE_OAUTH_API_URL", url)
        if project:
            monkeypatch.setenv("ENGINE_CLOUD_PROJECT", project)
        runtime = Runtime(path or tmp_path / "credentials")
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.close()
