"""A runtime restarted while the Cloud is down serves its local copy, and catches up when the Cloud is back."""

from __future__ import annotations

from engine_cloud import EngineUnavailableError

from conftest import eventually


def test_an_offline_restart_serves_the_local_copy_then_resumes(cloud, tenant, start_runtime, tmp_path):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    hubspot = tenant.put_credential("billing", "hubspot", "work", access_token="hs-1")
    first = start_runtime(cloud.url, key.secret, path=tmp_path / "cache")
    assert first.sync() == 1
    first.close()
    cloud.stop()
    try:
        # A new process: nothing in memory, the Cloud unreachable.
        again = start_runtime(cloud.url, key.secret, path=tmp_path / "cache")
        assert again.sync() == 0
        assert again.store.get_key("hubspot", "access_token") == "hs-1"
        assert again.store.get_credential_by_alias("hubspot", "work").id == hubspot.id
        assert again.client.health()["status"] == "unavailable"
        eventually(lambda: isinstance(again.provider.status().error, EngineUnavailableError), "the offline state")
        assert again.provider.status().state in ("offline", "connecting")
    finally:
        cloud.start(listen=f"127.0.0.1:{cloud.port}")  # the same database, port and admin token

    assert again.provider.wait_until_live(30), again.provider.status()
    tenant.put_credential("billing", "hubspot", "work", access_token="hs-2")
    eventually(lambda: again.store.get_key("hubspot", "access_token") == "hs-2", "the change after the outage")
