"""Refresh goes through the Cloud's connector hub (against the loopback authorization server); a credential
the hub does not keep is served as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine_cloud import EngineNotRefreshableError, EngineReauthorizationRequiredError
from engine_cloud._oss import CredentialRefreshError

from loopback_authorization import LoopbackAuthorization

PROVIDER = "loopback"


@pytest.fixture(scope="module")
def loopback(cloud):
    auth = LoopbackAuthorization(f"{cloud.url}/oauth/callback")
    yield auth
    auth.close()


@pytest.fixture
def authorization(loopback, tenant):
    tenant.register_provider(PROVIDER, loopback.issuer, loopback.client_id, loopback.client_secret)
    return loopback


def connect(tenant, authorization, alias: str) -> None:
    url = tenant.start_connect(PROVIDER, "billing", alias)
    assert authorization.connect(url, login=alias) == 200


def test_a_runtime_refreshes_through_the_hub_and_gets_a_new_access_token(cloud, tenant, authorization, start_runtime):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    connect(tenant, authorization, "work")
    runtime = start_runtime(cloud.url, key.secret)
    assert runtime.sync() == 1
    held = runtime.store.get_credential_by_alias(PROVIDER, "work")
    assert held is not None and runtime.provider.can_handle(held)
    calls = authorization.token_calls()

    refreshed = runtime.provider.refresh(held)
    assert authorization.token_calls() == calls + 1
    assert refreshed.id == held.id
    assert refreshed.get_key("access_token") and refreshed.get_key("access_token") != held.get_key("access_token")
    assert "refresh_token" not in refreshed.keys  # the provider's refresh token never leaves the Cloud


def test_a_refused_grant_asks_for_re_authorization_with_the_url(cloud, tenant, authorization, start_runtime):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    connect(tenant, authorization, "revoked")
    runtime = start_runtime(cloud.url, key.secret)
    runtime.sync()
    held = runtime.store.get_credential_by_alias(PROVIDER, "revoked")
    authorization.refuse_next_token_calls(2)  # the hub retries once with the same refresh token

    with pytest.raises(EngineReauthorizationRequiredError) as refused:
        runtime.client.refresh_credential(held.id)
    assert refused.value.reason == "CONNECTION_NEEDS_REAUTH"
    assert refused.value.reauthorization_url and "/console/connections/" in refused.value.reauthorization_url
    with pytest.raises(CredentialRefreshError, match="re-authorization. Visit: http"):
        runtime.provider.refresh(held)


def test_a_credential_due_for_refresh_that_the_hub_does_not_keep_is_served_as_it_is(cloud, tenant, start_runtime):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    soon = datetime.now(UTC) + timedelta(minutes=1)  # inside the 5-minute refresh window
    credential = tenant.put_credential("billing", "hubspot", access_token="hs-1", expires_at=soon, auto_refresh=True)
    runtime = start_runtime(cloud.url, key.secret)
    runtime.sync()
    held = runtime.storage.load(credential.id)
    assert runtime.provider.can_handle(held) and runtime.provider.should_refresh(held)

    with pytest.raises(EngineNotRefreshableError) as refused:
        runtime.client.refresh_credential(credential.id)
    assert refused.value.reason == "CREDENTIAL_NOT_REFRESHABLE"
    # Engine OSS's store catches the provider's CredentialRefreshError and keeps the old credential.
    assert runtime.store.get_key("hubspot", "access_token") == "hs-1"
