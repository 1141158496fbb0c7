"""EngineClientConfig reads what Engine OSS leaves in the environment; no server needed."""

from __future__ import annotations

import pytest

from engine_cloud import EngineClientConfig, EngineConfigError


def test_the_key_and_project_come_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("ENGINE_OAUTH_API_KEY", "ecr_key")
    monkeypatch.setenv("ENGINE_CLOUD_PROJECT", "billing")
    config = EngineClientConfig(base_url="http://127.0.0.1:7070")
    assert (config.api_key, config.project) == ("ecr_key", "billing")
    assert "ecr_key" not in repr(config)


def test_the_oss_placeholder_url_defers_to_engine_cloud_url_then_engine_oauth_api_url(monkeypatch):
    monkeypatch.setenv("ENGINE_OAUTH_API_KEY", "k")
    assert EngineClientConfig(base_url="https://api.localhost").target == "api.localhost:443"
    monkeypatch.setenv("ENGINE_OAUTH_API_URL", "http://oauth-api:8080")
    assert EngineClientConfig(base_url="https://api.localhost").base_url == "http://oauth-api:8080"
    monkeypatch.setenv("ENGINE_CLOUD_URL", "https://cloud.example.com")
    assert EngineClientConfig().base_url == "https://cloud.example.com"
    # A URL the caller chose is kept.
    assert EngineClientConfig(base_url="http://10.0.0.1:7070").base_url == "http://10.0.0.1:7070"


def test_http_means_a_plaintext_channel_and_https_a_tls_one(monkeypatch):
    monkeypatch.setenv("ENGINE_OAUTH_API_KEY", "k")
    plain = EngineClientConfig(base_url="http://127.0.0.1:7070")
    tls = EngineClientConfig(base_url="https://cloud.example.com")
    assert (plain.secure, plain.target) == (False, "127.0.0.1:7070")
    assert (tls.secure, tls.target) == (True, "cloud.example.com:443")
    assert EngineClientConfig(base_url="http://[::1]:7070").target == "[::1]:7070"


def test_without_a_key_or_with_a_bad_url_the_config_says_what_to_set(monkeypatch):
    with pytest.raises(EngineConfigError, match="ENGINE_OAUTH_API_KEY"):
        EngineClientConfig(base_url="http://127.0.0.1:7070")
    monkeypatch.setenv("ENGINE_OAUTH_API_KEY", "k")
    with pytest.raises(EngineConfigError, match="http:// or https://"):
        EngineClientConfig(base_url="grpc://cloud")
    with pytest.raises(EngineConfigError, match="path"):
        EngineClientConfig(base_url="https://cloud.example.com/v1")
