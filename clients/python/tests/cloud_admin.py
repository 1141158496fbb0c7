"""Sets up tenants, projects, runtime keys and credentials with the platform admin token, over gRPC."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from engine_cloud._gen.engine.cloud.v1 import connection_service_pb2 as connection_pb
from engine_cloud._gen.engine.cloud.v1 import connection_service_pb2_grpc as connection_grpc
from engine_cloud._gen.engine.cloud.v1 import credential_service_pb2 as credential_pb
from engine_cloud._gen.engine.cloud.v1 import credential_service_pb2_grpc as credential_grpc
from engine_cloud._gen.engine.cloud.v1 import oauth_app_service_pb2 as oauth_app_pb
from engine_cloud._gen.engine.cloud.v1 import oauth_app_service_pb2_grpc as oauth_app_grpc
from engine_cloud._gen.engine.cloud.v1 import oauth_provider_pb2 as oauth_provider_pb
from engine_cloud._gen.engine.cloud.v1 import project_service_pb2 as project_pb
from engine_cloud._gen.engine.cloud.v1 import project_service_pb2_grpc as project_grpc
from engine_cloud._gen.engine.cloud.v1 import runtime_service_pb2 as runtime_pb
from engine_cloud._gen.engine.cloud.v1 import runtime_service_pb2_grpc as runtime_grpc
from engine_cloud._gen.engine.cloud.v1 import tenant_service_pb2 as tenant_pb
from engine_cloud._gen.engine.cloud.v1 import tenant_service_pb2_grpc as tenant_grpc
from engine_cloud._gen.engine.cloud.v1 import token_service_pb2 as token_pb
from engine_cloud._gen.engine.cloud.v1 import token_service_pb2_grpc as token_grpc
from engine_cloud.client import TENANT_HEADER


@dataclass(frozen=True)
class RuntimeKey:
    id: str
    secret: str


def in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


class TenantAdmin:
    """The platform admin acting in one tenant (created on construction unless create=False)."""

    def __init__(self, url: str, admin_token: str, slug: str | None = None, *, create: bool = True) -> None:
        self.slug = slug or f"py-{secrets.token_hex(4)}"
        self._channel = grpc.insecure_channel(url.removeprefix("http://"))
        self._token = admin_token
        if create:
            stub = tenant_grpc.TenantServiceStub(self._channel)
            self._call(stub.CreateTenant, tenant_pb.CreateTenantRequest(slug=self.slug))

    def _call(self, method: Any, request: Any) -> Any:
        metadata = [("authorization", f"Bearer {self._token}"), (TENANT_HEADER, self.slug)]
        return method(request, metadata=metadata, timeout=30)

    def close(self) -> None:
        self._channel.close()

    def allow(self, project: str) -> None:
        self._call(
            project_grpc.ProjectServiceStub(self._channel).AllowProject, project_pb.AllowProjectRequest(name=project)
        )

    def deny(self, project: str) -> None:
        self._call(
            project_grpc.ProjectServiceStub(self._channel).DenyProject, project_pb.DenyProjectRequest(name=project)
        )

    def runtime_key(self, *projects: str) -> RuntimeKey:
        request = token_pb.CreateTokenRequest(
            label=f"py-runtime-{secrets.token_hex(3)}", kind=token_pb.TOKEN_KIND_RUNTIME, projects=list(projects)
        )
        created = self._call(token_grpc.TokenServiceStub(self._channel).CreateToken, request)
        return RuntimeKey(id=created.token.id, secret=created.secret)

    def revoke(self, key: RuntimeKey) -> None:
        self._call(token_grpc.TokenServiceStub(self._channel).RevokeToken, token_pb.RevokeTokenRequest(id=key.id))

    def put_credential(
        self,
        project: str,
        provider: str,
        alias: str = "default",
        *,
        access_token: str | None = None,
        expires_at: datetime | None = None,
        keys: dict[str, str] | None = None,
        identity: dict[str, str] | None = None,
        credential_type: int = credential_pb.CREDENTIAL_TYPE_OAUTH2,
        auto_refresh: bool = False,
    ) -> credential_pb.Credential:
        request = credential_pb.PutCredentialRequest(
            project=project,
            provider=provider,
            alias=alias,
            type=credential_type,
            identity=identity or {},
            auto_refresh=auto_refresh,
        )
        for name, value in (keys or {}).items():
            request.keys[name].value = value
        if access_token is not None:
            request.keys["access_token"].value = access_token
            when = Timestamp()
            when.FromDatetime(expires_at or in_an_hour())
            request.keys["access_token"].expires_at.CopyFrom(when)
        stub = credential_grpc.CredentialServiceStub(self._channel)
        return self._call(stub.PutCredential, request).credential

    def delete_credential(self, credential_id: str) -> None:
        stub = credential_grpc.CredentialServiceStub(self._channel)
        self._call(stub.DeleteCredential, credential_pb.DeleteCredentialRequest(id=credential_id))

    def register_provider(self, provider: str, issuer: str, client_id: str, client_secret: str) -> None:
        """An OAuth app for a custom provider served by the loopback authorization server at `issuer`."""
        custom = oauth_provider_pb.OAuthProvider(
            id=provider,
            display_name="Loopback",
            authorize_url=f"{issuer}/auth",
            token_url=f"{issuer}/token",
            revocation_url=f"{issuer}/token/revocation",
            issuer=issuer,
            default_scopes=["openid", "offline_access"],
            pkce=True,
            authorize_params={"prompt": "consent"},
        )
        request = oauth_app_pb.SetOAuthAppRequest(
            provider=provider, client_id=client_id, client_secret=client_secret, custom_provider=custom
        )
        self._call(oauth_app_grpc.OAuthAppServiceStub(self._channel).SetOAuthApp, request)

    def start_connect(self, provider: str, project: str, alias: str) -> str:
        """Starts a connect flow; returns the authorization URL a person's browser would open."""
        request = connection_pb.StartConnectRequest(provider=provider, project=project, alias=alias)
        return self._call(connection_grpc.ConnectionServiceStub(self._channel).StartConnect, request).authorization_url

    def runtimes(self) -> list[runtime_pb.Runtime]:
        """The tenant's connected runtimes (RuntimeService.ListRuntimes)."""
        stub = runtime_grpc.RuntimeServiceStub(self._channel)
        return list(self._call(stub.ListRuntimes, runtime_pb.ListRuntimesRequest()).runtimes)
