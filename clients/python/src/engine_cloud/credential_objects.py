"""Engine Cloud credentials as Engine OSS CredentialObjects, and the reserved keys that tie them together.

Engine OSS looks credentials up by provider name (`store.get_key("hubspot", "access_token")`) and alias, read
from the reserved keys `_integration_type` and `_alias`; identity from `_identity_<field>`. `_engine_managed`
marks what came from the Cloud: only those are refreshed through the hub or replaced by the sync, so a
runtime's own local API keys are never touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ._gen.engine.cloud.v1 import credential_service_pb2 as pb
from ._oss import CredentialKey, CredentialObject, CredentialType

MANAGED_KEY = "_engine_managed"
PROVIDER_KEY = "_integration_type"
ALIAS_KEY = "_alias"
PROJECT_KEY = "_engine_project"
REVISION_KEY = "_engine_revision"
IDENTITY_PREFIX = "_identity_"
SCOPE_KEY = "scope"

_TYPES = {
    pb.CREDENTIAL_TYPE_OAUTH2: CredentialType.OAUTH2,
    pb.CREDENTIAL_TYPE_API_KEY: CredentialType.API_KEY,
    pb.CREDENTIAL_TYPE_BASIC: CredentialType.BASIC_AUTH,
    pb.CREDENTIAL_TYPE_GENERIC: CredentialType.CUSTOM,
}


def _key(name: str, value: str, expires_at: datetime | None = None) -> CredentialKey:
    return CredentialKey(name=name, value=value, expires_at=expires_at)


def to_credential_object(credential: pb.Credential, provider_id: str) -> CredentialObject:
    """The runtime's view of a Cloud credential: its secrets plus the reserved keys (never empty values)."""
    keys: dict[str, CredentialKey] = {}
    for name, key in credential.keys.items():
        expires = key.expires_at.ToDatetime(tzinfo=UTC) if key.HasField("expires_at") else None
        keys[name] = _key(name, key.value, expires)
    reserved = {
        MANAGED_KEY: "true",
        PROVIDER_KEY: credential.provider,
        ALIAS_KEY: credential.alias,
        PROJECT_KEY: credential.project,
        REVISION_KEY: str(credential.revision),
        SCOPE_KEY: " ".join(credential.scopes),
    }
    reserved.update({IDENTITY_PREFIX + k: v for k, v in credential.identity.items()})
    keys.update({n: _key(n, v) for n, v in reserved.items() if v})
    return CredentialObject(
        id=credential.id,
        credential_type=_TYPES.get(credential.type, CredentialType.CUSTOM),
        keys=keys,
        provider_id=provider_id,
        auto_refresh=credential.auto_refresh,
        last_refreshed=datetime.now(UTC),
        created_at=credential.created_at.ToDatetime(tzinfo=UTC),
        updated_at=credential.updated_at.ToDatetime(tzinfo=UTC),
    )


def is_engine_managed(credential: CredentialObject) -> bool:
    return credential.get_key(MANAGED_KEY) == "true"


def name_of(credential: CredentialObject) -> tuple[str, str, str] | None:
    """(provider, alias, project) of a Cloud-managed credential; None for anything else."""
    if not is_engine_managed(credential):
        return None
    provider = credential.get_key(PROVIDER_KEY)
    if not provider:
        return None
    return provider, credential.get_key(ALIAS_KEY) or "default", credential.get_key(PROJECT_KEY) or ""


def access_token_expiry(credential: CredentialObject) -> datetime | None:
    key = credential.keys.get("access_token")
    return key.expires_at if key is not None else None
