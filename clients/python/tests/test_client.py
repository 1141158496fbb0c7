"""EngineCredentialClient against the real server: typed errors with the server's reasons."""

from __future__ import annotations

import uuid

import pytest

from engine_cloud import (
    EngineAuthenticationError,
    EngineClientConfig,
    EngineConfigError,
    EngineCredentialClient,
    EngineUnavailableError,
)


def client_for(url: str, key: str, project: str | None = None) -> EngineCredentialClient:
    return EngineCredentialClient(EngineClientConfig(base_url=url, api_key=key, project=project, timeout=5))


def test_an_unknown_key_is_an_authentication_error_with_its_reason(cloud):
    with client_for(cloud.url, "ecr_" + "x" * 40, project="billing") as client:
        with pytest.raises(EngineAuthenticationError) as refused:
            client.pull()
    assert refused.value.reason == "TOKEN_INVALID"
    assert "x" * 40 not in str(refused.value)


def test_get_validate_and_health(cloud, tenant):
    tenant.allow("billing")
    key = tenant.runtime_key("billing")
    credential = tenant.put_credential("billing", "hubspot", access_token="hs-1")
    with client_for(cloud.url, key.secret) as client:
        got = client.get_credential(credential.id)
        assert got is not None and got.keys["access_token"].value == "hs-1"
        assert client.get_credential(str(uuid.uuid4())) is None
        assert client.get_credential("hubspot") is None  # not an id the Cloud issues
        assert client.validate_credential(credential.id).valid
        assert client.validate_credential(str(uuid.uuid4())).reason == "CREDENTIAL_NOT_FOUND"
        health = client.health()
        assert health["status"] == "healthy" and health["version"]


def test_a_key_for_several_projects_needs_the_project_named(cloud, tenant):
    tenant.allow("a")
    tenant.allow("b")
    key = tenant.runtime_key("a", "b")
    with client_for(cloud.url, key.secret) as client, pytest.raises(EngineConfigError, match="ENGINE_CLOUD_PROJECT"):
        client.pull()


def test_an_unreachable_cloud_is_unavailable():
    with client_for("http://127.0.0.1:9", "k", project="billing") as client, pytest.raises(EngineUnavailableError):
        client.pull()
