"""EngineClientConfig: where the Cloud is, the runtime key and the project, read as Engine OSS expects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import EngineConfigError

#: The base URL Engine OSS passes when nobody configured one (store.py, setup.py, the TUI).
OSS_PLACEHOLDER_URL = "https://api.localhost"
#: Read in this order when the caller passed no URL or the placeholder.
URL_ENV_VARS = ("ENGINE_CLOUD_URL", "ENGINE_OAUTH_API_URL")
API_KEY_ENV_VAR = "ENGINE_OAUTH_API_KEY"
PROJECT_ENV_VAR = "ENGINE_CLOUD_PROJECT"


def _env(name: str) -> str | None:
    # Empty counts as unset, so `ENGINE_CLOUD_PROJECT=` does not name a project "".
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass
class EngineClientConfig:
    """How to reach Engine Cloud.

    Engine OSS constructs this as ``EngineClientConfig(base_url=...)`` and never passes the key, so a missing
    ``api_key`` is read from ``ENGINE_OAUTH_API_KEY``. Three of its four call sites pass the placeholder
    ``https://api.localhost``; that (or no URL) defers to ``ENGINE_CLOUD_URL``, then ``ENGINE_OAUTH_API_URL``.
    ``project`` defaults to ``ENGINE_CLOUD_PROJECT``; left unset, the client uses the one project the runtime
    key is limited to. ``http://`` URLs get a plaintext channel, ``https://`` a TLS one.
    """

    base_url: str = OSS_PLACEHOLDER_URL
    api_key: str | None = None
    project: str | None = None
    #: Seconds each unary call may take. The Watch stream has no deadline.
    timeout: float = 10.0
    #: An Engine Cloud tenant to act in (only needed by platform tokens; a runtime key names its own).
    tenant: str | None = None
    #: PEM root certificates for https:// (default: the system's).
    root_certificates: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.base_url or self.base_url.rstrip("/") == OSS_PLACEHOLDER_URL:
            self.base_url = next((v for v in map(_env, URL_ENV_VARS) if v), self.base_url or OSS_PLACEHOLDER_URL)
        self.api_key = self.api_key or _env(API_KEY_ENV_VAR)
        if not self.api_key:
            raise EngineConfigError(f"no runtime key: pass api_key or set {API_KEY_ENV_VAR}")
        self.project = self.project or _env(PROJECT_ENV_VAR)
        if self.timeout <= 0:
            raise EngineConfigError("timeout must be a positive number of seconds")
        _ = self.target  # validates the URL now rather than at the first call

    def __repr__(self) -> str:  # the key never appears in logs or tracebacks
        return f"EngineClientConfig(base_url={self.base_url!r}, project={self.project!r}, timeout={self.timeout})"

    @property
    def secure(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def target(self) -> str:
        """host:port for grpc, from the base URL (default ports 443 and 80)."""
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineConfigError(f"base_url must be an http:// or https:// URL, got {self.base_url!r}")
        if parts.path not in ("", "/"):
            raise EngineConfigError(f"base_url must not have a path (gRPC serves at the root): {self.base_url!r}")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
