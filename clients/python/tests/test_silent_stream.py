"""A stream that goes silent (no heartbeat, no reset) is replaced: the runtime does not wait on it forever."""

from __future__ import annotations

from engine_cloud import EngineCachedStorage, EngineClientConfig, EngineCredentialClient, EngineSyncProvider

from conftest import eventually
from fernet_storage import FernetFileStorage
from freeze_proxy import FreezeProxy
from oss_store import OssStore


def test_a_silent_stream_is_replaced_after_three_heartbeats_and_the_change_arrives(cloud, tenant, tmp_path):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    first = tenant.put_credential("billing", "hubspot", access_token="hs-1")
    proxy = FreezeProxy(cloud.port)
    client = EngineCredentialClient(EngineClientConfig(base_url=f"http://127.0.0.1:{proxy.port}", api_key=key.secret))
    # The test server sends a heartbeat every second (cloud_server.py): silent for 3 s means dead.
    provider = EngineSyncProvider(client=client, heartbeat_seconds=1.0, backoff_max_seconds=0.5)
    storage = EngineCachedStorage(
        local_storage=FernetFileStorage(tmp_path / "credentials"), engine_sync_provider=provider, cache_ttl_seconds=300
    )
    store = OssStore(storage, [provider])
    try:
        assert provider.sync_all(store) == 1
        assert provider.wait_until_live(10)
        opened = proxy.accepted

        proxy.freeze()
        tenant.put_credential("billing", "hubspot", access_token="hs-2")
        # Nothing can arrive on the frozen connection; the watchdog gives up on it after 3 s, the provider
        # opens a new connection and resumes from its revision.
        eventually(lambda: proxy.accepted > opened, "a new connection", timeout=10)
        eventually(
            lambda: storage.local.load(first.id).get_key("access_token") == "hs-2", "the change after the freeze", 10
        )
        assert provider.is_live
        assert provider.stream_error is None
    finally:
        provider.close()
        client.close()
        proxy.close()
