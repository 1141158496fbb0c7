"""A runtime restarted while the Cloud is down serves its local copy, and catches up when the Cloud is back."""

from __future__ import annotations

from engine_cloud import EngineUnavailableError

from cloud_admin import TenantAdmin
from cloud_server import CloudServer, TestDatabase
from conftest import eventually


def test_an_offline_restart_serves_the_local_copy_then_resumes(start_runtime, tmp_path):
    database = TestDatabase()
    server = CloudServer(database).start()
    try:
        tenant = TenantAdmin(server.url, server.admin_token)
        tenant.allow("billing")
        key = tenant.runtime_key("billing")
        hubspot = tenant.put_credential("billing", "hubspot", "work", access_token="hs-1")
        first = start_runtime(server.url, key.secret, path=tmp_path / "cache")
        assert first.sync() == 1
        first.close()
        url, port = server.url, server.port
        tenant.close()
        server.stop()

        # A new process: nothing in memory, the Cloud unreachable.
        again = start_runtime(url, key.secret, path=tmp_path / "cache")
        assert again.sync() == 0
        assert again.store.get_key("hubspot", "access_token") == "hs-1"
        assert again.store.get_credential_by_alias("hubspot", "work").id == hubspot.id
        assert again.client.health()["status"] == "unavailable"
        eventually(lambda: isinstance(again.provider.status().error, EngineUnavailableError), "the offline state")
        assert again.provider.status().state in ("offline", "connecting")

        server.start(listen=f"127.0.0.1:{port}")
        assert again.provider.wait_until_live(15), again.provider.status()
        tenant = TenantAdmin(server.url, server.admin_token, slug=tenant.slug, create=False)
        tenant.put_credential("billing", "hubspot", "work", access_token="hs-2")
        eventually(lambda: again.store.get_key("hubspot", "access_token") == "hs-2", "the change after the outage")
        tenant.close()
    finally:
        server.stop()
        database.drop()
