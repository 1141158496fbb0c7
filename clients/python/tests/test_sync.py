"""A Python runtime syncs from Engine Cloud with the classes Engine OSS expects, and stays live."""

from __future__ import annotations

import pytest

import engine_cloud
from engine_cloud import EngineAuthenticationError, EnginePolicyDeniedError

from conftest import eventually


def live_runtime(cloud, tenant, start_runtime):
    """A runtime of project "billing" (allowed), synced and receiving changes; and its key."""
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    runtime = start_runtime(cloud.url, key.secret)
    runtime.sync()
    assert runtime.provider.wait_until_live(10)
    return runtime, key


def test_sync_all_saves_every_credential_of_an_allowed_project(cloud, tenant, start_runtime):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    hubspot = tenant.put_credential("billing", "hubspot", "work", access_token="hs-1", identity={"email": "a@b.c"})
    tenant.put_credential("", "zoho", access_token="zo-1")  # tenant-wide: every project sees it
    runtime = start_runtime(cloud.url, key.secret)  # no project: the key is limited to "billing"

    assert runtime.sync() == 2
    assert runtime.store.get_key("hubspot", "access_token") == "hs-1"
    assert runtime.store.get_key("zoho", "access_token") == "zo-1"
    by_alias = runtime.store.get_credential_by_alias("hubspot", "hubspot/work")
    assert by_alias is not None and by_alias.id == hubspot.id and by_alias.identity.get("email") == "a@b.c"
    assert runtime.store.list_accounts("hubspot") == [
        {"credential_id": hubspot.id, "provider": "hubspot", "alias": "work"}
    ]


def test_a_change_reaches_the_runtime_while_it_runs(cloud, tenant, start_runtime):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    first = tenant.put_credential("billing", "hubspot", access_token="hs-1")
    runtime = start_runtime(cloud.url, key.secret)
    runtime.sync()
    assert runtime.provider.wait_until_live(10)

    tenant.put_credential("billing", "hubspot", access_token="hs-2")
    eventually(lambda: runtime.storage.local.load(first.id).get_key("access_token") == "hs-2", "the update")
    added = tenant.put_credential("billing", "google_calendar", access_token="gc-1")
    eventually(lambda: runtime.store.get_key("google_calendar", "access_token") == "gc-1", "the new credential")
    tenant.delete_credential(added.id)
    eventually(lambda: runtime.store.get_key("google_calendar", "access_token") is None, "the delete")
    assert runtime.store.get_key("hubspot", "access_token") == "hs-2"


@pytest.mark.parametrize(("prepare", "reason"), [("deny", "PROJECT_DENIED"), ("nothing", "PROJECT_UNKNOWN")])
def test_a_project_the_policy_refuses_is_refused_with_its_reason(cloud, tenant, start_runtime, prepare, reason):
    if prepare == "deny":
        tenant.deny("crm")
    key = tenant.runtime_key()
    runtime = start_runtime(cloud.url, key.secret, project="crm")

    with pytest.raises(EnginePolicyDeniedError) as refused:
        runtime.sync()
    assert refused.value.reason == reason
    assert refused.value.metadata.get("project") == "crm"


def test_revoking_the_key_ends_the_stream_with_an_explicit_error(cloud, tenant, start_runtime):
    tenant.put_credential("", "hubspot", access_token="hs-1")
    runtime, key = live_runtime(cloud, tenant, start_runtime)

    tenant.revoke(key)
    assert runtime.provider.wait_until_stopped(10)
    error = runtime.provider.stream_error
    assert isinstance(error, EngineAuthenticationError) and error.reason == "TOKEN_REVOKED"
    assert runtime.provider.status().state == "stopped"
    # What the runtime already holds stays usable, as its cache file would.
    assert runtime.store.get_key("hubspot", "access_token") == "hs-1"


def test_denying_the_project_ends_the_stream_with_the_reason(cloud, tenant, start_runtime):
    runtime, _ = live_runtime(cloud, tenant, start_runtime)

    tenant.deny("billing")
    assert runtime.provider.wait_until_stopped(10)
    error = runtime.provider.stream_error
    assert isinstance(error, EnginePolicyDeniedError) and error.reason == "PROJECT_DENIED"


def test_another_tenants_credential_is_never_visible(cloud, tenant, start_runtime):
    from cloud_admin import TenantAdmin

    other = TenantAdmin(cloud.url, cloud.admin_token)
    try:
        other.allow("billing")
        theirs = other.put_credential("billing", "hubspot", access_token="theirs")
        other.put_credential("", "zoho", access_token="theirs-too")
    finally:
        other.close()
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    ours = tenant.put_credential("billing", "hubspot", access_token="ours")
    runtime = start_runtime(cloud.url, key.secret)

    assert runtime.sync() == 1
    assert runtime.store.get_key("hubspot", "access_token") == "ours"
    assert runtime.store.get_key("zoho", "access_token") is None
    assert [c.id for c in runtime.client.list_credentials()] == [ours.id]
    assert runtime.client.get_credential(theirs.id) is None  # the same answer as an id that never existed
    assert runtime.provider.fetch(theirs.id) is None


def test_the_runtime_is_listed_as_a_connected_python_runtime(cloud, tenant, start_runtime):
    runtime, key = live_runtime(cloud, tenant, start_runtime)

    listed = eventually(lambda: tenant.runtimes(), "the runtime's presence")
    (seen,) = listed
    assert runtime.provider.is_live
    assert (seen.token_id, seen.project) == (key.id, "billing")
    assert (seen.info.sdk, seen.info.sdk_version) == ("engine-cloud-python", engine_cloud.__version__)
    assert seen.info.language == "python"
    assert seen.info.host and seen.info.name == "python"
