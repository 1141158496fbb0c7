"""Typed errors of the Engine Cloud client, from the gRPC status code and the server's ErrorInfo reason."""

from __future__ import annotations

import grpc

from ._status_details import ErrorInfo, error_info_of

#: ErrorInfo.domain of every Engine Cloud error (ERROR_DOMAIN in packages/api/src/constants.ts).
ERROR_DOMAIN = "engine.cloud"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class EngineConfigError(ValueError):
    """The client is missing a setting (URL, runtime key, project) or one is malformed."""


class EngineCloudError(Exception):
    """A call to Engine Cloud failed. ``reason`` is the server's stable ErrorInfo reason, e.g. "TOKEN_REVOKED"."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})

    def __str__(self) -> str:
        code = f"code={self.code.name.lower()}" if self.code else ""
        reason = f"reason={self.reason}" if self.reason else ""
        suffix = ", ".join(p for p in (code, reason) if p)
        return f"{self.message} ({suffix})" if suffix else self.message


class EngineAuthenticationError(EngineCloudError):
    """The runtime key is missing, invalid, expired or revoked (UNAUTHENTICATED). Retrying will not help."""


class EngineNotFoundError(EngineCloudError):
    """No such credential in this tenant; another tenant's ids read the same (NOT_FOUND)."""


class EnginePolicyDeniedError(EngineCloudError):
    """The tenant's policy or the key's scope refuses this (PERMISSION_DENIED): PROJECT_DENIED, PROJECT_UNKNOWN,
    PROJECT_NOT_IN_TOKEN_SCOPE, TENANT_SUSPENDED, ... in ``reason``; the project in ``metadata["project"]``."""


class EngineReauthorizationRequiredError(EngineCloudError):
    """The provider refused the stored grant: a person must connect the account again at ``reauthorization_url``."""

    @property
    def reauthorization_url(self) -> str | None:
        return self.metadata.get("reauthorize_url") or None


class EngineNotRefreshableError(EngineCloudError):
    """The credential is not kept by the connector hub, so the Cloud cannot refresh it."""


class EngineUnavailableError(EngineCloudError):
    """The Cloud could not be reached or could not answer now (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED).
    Retry with backoff; meanwhile serve the local copy."""


#: Errors that end a sync stream for good: only an administrator's action (a new key, allowing the project)
#: changes the answer.
TERMINAL_ERRORS = (EngineAuthenticationError, EnginePolicyDeniedError)

_BY_CODE: dict[grpc.StatusCode, type[EngineCloudError]] = {
    grpc.StatusCode.UNAUTHENTICATED: EngineAuthenticationError,
    grpc.StatusCode.NOT_FOUND: EngineNotFoundError,
    grpc.StatusCode.PERMISSION_DENIED: EnginePolicyDeniedError,
    grpc.StatusCode.UNAVAILABLE: EngineUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: EngineUnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: EngineUnavailableError,
}

_BY_REASON: dict[str, type[EngineCloudError]] = {
    "CONNECTION_NEEDS_REAUTH": EngineReauthorizationRequiredError,
    "CREDENTIAL_NOT_REFRESHABLE": EngineNotRefreshableError,
}


def _status_details(error: grpc.RpcError) -> bytes | None:
    trailers = error.trailing_metadata() if isinstance(error, grpc.Call) else None
    for key, value in trailers or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def from_rpc_error(error: grpc.RpcError) -> EngineCloudError:
    """The typed error for a failed call: the reason picks the class where one has its own, else the code."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (error.details() if isinstance(error, grpc.Call) else None) or str(code.name).lower()
    info = error_info_of(_status_details(error), ERROR_DOMAIN) or ErrorInfo()
    cls = _BY_REASON.get(info.reason) or _BY_CODE.get(code, EngineCloudError)
    return cls(message, code=code, reason=info.reason, metadata=info.metadata)
