"""EngineCredentialClient: the runtime's unary calls to Engine Cloud over gRPC, with typed errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc

from . import __version__
from ._gen.engine.cloud.v1 import auth_service_pb2, auth_service_pb2_grpc, server_service_pb2, server_service_pb2_grpc
from ._gen.engine.cloud.v1 import connection_service_pb2 as connection_pb
from ._gen.engine.cloud.v1 import credential_service_pb2 as credential_pb
from ._gen.engine.cloud.v1 import credential_service_pb2_grpc as credential_grpc
from ._gen.engine.cloud.v1 import sync_service_pb2 as sync_pb
from ._gen.engine.cloud.v1 import sync_service_pb2_grpc as sync_grpc
from .config import EngineClientConfig
from .errors import (
    EngineCloudError,
    EngineConfigError,
    EngineNotFoundError,
    EngineReauthorizationRequiredError,
    from_rpc_error,
)

#: TENANT_HEADER in packages/api/src/constants.ts.
TENANT_HEADER = "engine-tenant"
#: WatchRequest.runtime's sdk, and the User-Agent of every call.
SDK_NAME = "engine-cloud-python"

T = TypeVar("T")


@dataclass(frozen=True)
class CredentialValidation:
    """What the Cloud says of a credential now. ``reason`` is set when it is not valid."""

    valid: bool
    reason: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RefreshResult:
    credential: credential_pb.Credential
    #: False when the hub found the token still fresh and returned it unchanged.
    refreshed: bool


class EngineCredentialClient:
    """Calls Engine Cloud as a runtime: list, get, refresh, validate, health; opens the sync stream.

    One gRPC channel per client, opened lazily; failures raise the subclasses of EngineCloudError.
    """

    def __init__(self, config: EngineClientConfig) -> None:
        self.config = config
        self._channel: grpc.Channel | None = None
        self._project: str | None = config.project

    # ---- plumbing

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            options = [("grpc.primary_user_agent", f"{SDK_NAME}/{__version__}")]
            if self.config.secure:
                credentials = grpc.ssl_channel_credentials(root_certificates=self.config.root_certificates)
                self._channel = grpc.secure_channel(self.config.target, credentials, options=options)
            else:
                self._channel = grpc.insecure_channel(self.config.target, options=options)
        return self._channel

    def _metadata(self) -> list[tuple[str, str]]:
        metadata = [("authorization", f"Bearer {self.config.api_key}")]
        if self.config.tenant:
            metadata.append((TENANT_HEADER, self.config.tenant))
        return metadata

    def _call(self, method: Callable[..., T], request: Any) -> T:
        try:
            return method(request, timeout=self.config.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def reset_channel(self) -> None:
        """Drops the channel, so the next call opens a new connection. For a connection found dead by silence:
        gRPC would keep sending new calls down it until TCP gives up, minutes later."""
        self.close()

    def __enter__(self) -> EngineCredentialClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- the project

    def resolve_project(self) -> str:
        """The project this runtime serves: the configured one, else the only one its key is limited to."""
        if self._project:
            return self._project
        who = self._call(auth_service_pb2_grpc.AuthServiceStub(self.channel).WhoAmI, auth_service_pb2.WhoAmIRequest())
        if len(who.projects) != 1:
            raise EngineConfigError(
                "no project: set ENGINE_CLOUD_PROJECT (or pass project=) — the runtime key is "
                + ("not limited to one project" if not who.projects else f"limited to {len(who.projects)} projects")
            )
        self._project = who.projects[0]
        return self._project

    # ---- credentials

    def list_credentials(self, provider: str | None = None) -> list[credential_pb.Credential]:
        """Every credential the project sees (its own and tenant-wide ones), metadata only: no secret values."""
        stub = credential_grpc.CredentialServiceStub(self.channel)
        project = self.resolve_project()
        found: list[credential_pb.Credential] = []
        token = ""
        while True:
            page = self._call(
                stub.ListCredentials,
                credential_pb.ListCredentialsRequest(
                    project=project, provider=provider or "", page_size=1000, page_token=token
                ),
            )
            found.extend(page.credentials)
            token = page.next_page_token
            if not token:
                return found

    def get_credential(self, credential_id: str) -> credential_pb.Credential | None:
        """One credential with its secrets; None when this tenant has no such credential."""
        stub = credential_grpc.CredentialServiceStub(self.channel)
        try:
            return self._call(stub.GetCredential, credential_pb.GetCredentialRequest(id=credential_id)).credential
        except EngineNotFoundError:
            return None
        except EngineCloudError as error:
            if error.code == grpc.StatusCode.INVALID_ARGUMENT and error.metadata.get("field") == "id":
                return None  # not an id the Cloud issues (ids are UUIDs): it cannot exist there
            raise

    def refresh_credential(self, credential_id: str) -> RefreshResult:
        """Asks the connector hub for a fresh access token. Raises EngineReauthorizationRequiredError (with the
        URL a person must visit) when the provider refused the grant, EngineNotRefreshableError when the hub does
        not keep this credential."""
        stub = sync_grpc.SyncServiceStub(self.channel)
        request = sync_pb.RefreshCredentialRequest(project=self.resolve_project(), id=credential_id)
        response = self._call(stub.RefreshCredential, request)
        link = response.credential.connection
        if response.credential.HasField("connection") and link.status == connection_pb.CONNECTION_STATUS_NEEDS_REAUTH:
            # The refresh that found the grant gone answers with the connection's new status rather than an
            # error; later ones fail with CONNECTION_NEEDS_REAUTH. Callers see the same error either way.
            raise EngineReauthorizationRequiredError(
                f"the provider refused the grant of connection {link.id} ({link.status_reason or 'invalid_grant'}); "
                "a person must connect the account again",
                code=grpc.StatusCode.FAILED_PRECONDITION,
                reason="CONNECTION_NEEDS_REAUTH",
                metadata={"connection_id": link.id, "reauthorize_url": link.reauthorize_url},
            )
        return RefreshResult(credential=response.credential, refreshed=response.refreshed)

    def validate_credential(self, credential_id: str) -> CredentialValidation:
        """Whether the Cloud still has the credential and its access token (if it expires) has not expired."""
        credential = self.get_credential(credential_id)
        if credential is None:
            return CredentialValidation(valid=False, reason="CREDENTIAL_NOT_FOUND")
        token = credential.keys.get("access_token")
        if token is None or not token.HasField("expires_at"):
            return CredentialValidation(valid=True)
        expires = token.expires_at.ToDatetime(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            return CredentialValidation(valid=False, reason="TOKEN_EXPIRED", expires_at=expires)
        return CredentialValidation(valid=True, expires_at=expires)

    def health(self) -> dict[str, Any]:
        """{"status": "healthy", "version", "latency_ms"} when the server answers, else {"status": "unavailable",
        "error"}. Needs no valid key (ServerService is public)."""
        stub = server_service_pb2_grpc.ServerServiceStub(self.channel)
        started = time.monotonic()
        try:
            info = self._call(stub.GetServerInfo, server_service_pb2.GetServerInfoRequest())
        except EngineCloudError as error:
            return {"status": "unavailable", "error": str(error)}
        return {"status": "healthy", "version": info.version, "latency_ms": round((time.monotonic() - started) * 1000)}

    # ---- sync

    def pull(self, since_revision: int = 0) -> sync_pb.PullResponse:
        """The catch-up a Watch would send (a RESET and a full snapshot from revision 0), as one call."""
        stub = sync_grpc.SyncServiceStub(self.channel)
        return self._call(stub.Pull, sync_pb.PullRequest(project=self.resolve_project(), since_revision=since_revision))

    def watch(
        self, since_revision: int, runtime_name: str | None = None, runtime_version: str | None = None
    ) -> grpc.Call:
        """Opens the Watch stream (no deadline): iterate it for WatchResponses, cancel() it to end it.
        gRPC errors surface from the iteration as grpc.RpcError; map them with errors.from_rpc_error."""
        stub = sync_grpc.SyncServiceStub(self.channel)
        request = sync_pb.WatchRequest(
            project=self.resolve_project(),
            since_revision=since_revision,
            runtime_id=socket.gethostname()[:128],
        )
        describe_runtime(request, runtime_name, runtime_version)
        return stub.Watch(request, metadata=self._metadata())


def describe_runtime(request: sync_pb.WatchRequest, runtime_name: str | None, runtime_version: str | None) -> None:
    """Fills WatchRequest.runtime: who is connected, for `engine-cloud runtime list`. Informational only."""
    from ._oss import ENGINE_OSS

    info = request.runtime
    info.name = (runtime_name or ("engine-oss" if ENGINE_OSS else "python"))[:128]
    info.version = (runtime_version or "")[:64]
    info.host = socket.gethostname()[:255]
    info.sdk = SDK_NAME
    info.sdk_version = __version__
    info.language = "python"


def iterate(call: grpc.Call) -> Iterator[sync_pb.WatchResponse]:
    """The stream's events; a failure raises the typed EngineCloudError."""
    try:
        yield from call
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None
