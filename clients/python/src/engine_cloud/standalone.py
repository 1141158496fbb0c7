"""Minimal stand-ins for Engine OSS's credential types, used when `engine.credentials` is not importable.

They keep the names, constructor keywords and methods that the sync classes and Engine OSS's
CredentialStore rely on, so a runtime without Engine OSS (or a test) handles the same objects.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


class CredentialType(enum.StrEnum):
    API_KEY = "api_key"
    OAUTH2 = "oauth2"
    BASIC_AUTH = "basic_auth"
    BEARER_TOKEN = "bearer_token"
    CUSTOM = "custom"


class CredentialError(Exception):
    """Base of the credential errors."""


class CredentialRefreshError(CredentialError):
    """A credential could not be refreshed; the store keeps the old one."""


class SecretValue:
    """A string that does not print itself (the role pydantic's SecretStr plays in Engine OSS)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _aware(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


class CredentialKey:
    def __init__(
        self,
        name: str,
        value: str | SecretValue,
        expires_at: datetime | str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.value = value if isinstance(value, SecretValue) else SecretValue(value)
        self.expires_at = _aware(expires_at)
        self.metadata = dict(metadata or {})

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and datetime.now(UTC) >= self.expires_at

    def get_secret_value(self) -> str:
        return self.value.get_secret_value()

    def __repr__(self) -> str:
        return f"CredentialKey(name={self.name!r}, expires_at={self.expires_at!r})"


@dataclass
class CredentialObject:
    id: str
    credential_type: CredentialType = CredentialType.API_KEY
    keys: dict[str, CredentialKey] = field(default_factory=dict)
    provider_id: str | None = None
    last_refreshed: datetime | None = None
    auto_refresh: bool = False
    description: str = ""
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def get_key(self, name: str) -> str | None:
        key = self.keys.get(name)
        return key.get_secret_value() if key else None

    def set_key(
        self, name: str, value: str, expires_at: datetime | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        self.keys[name] = CredentialKey(name=name, value=value, expires_at=expires_at, metadata=metadata)
        self.updated_at = datetime.now(UTC)

    def has_key(self, name: str) -> bool:
        return name in self.keys

    def get_default_key(self) -> str | None:
        for name in ("value", "api_key", "access_token"):
            if name in self.keys:
                return self.get_key(name)
        return next((k.get_secret_value() for k in self.keys.values()), None)

    @property
    def provider_type(self) -> str | None:
        return self.get_key("_integration_type")

    @property
    def alias(self) -> str | None:
        return self.get_key("_alias")

    @property
    def identity(self) -> dict[str, str]:
        prefix = "_identity_"
        return {n[len(prefix) :]: k.get_secret_value() for n, k in self.keys.items() if n.startswith(prefix)}

    @property
    def needs_refresh(self) -> bool:
        soon = datetime.now(UTC) + timedelta(minutes=5)
        return any(k.expires_at is not None and k.expires_at <= soon for k in self.keys.values())

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        """The shape Engine OSS's storages serialize (pydantic's name), secrets in clear: encrypt before writing."""

        def when(value: datetime | None) -> Any:
            return value.isoformat() if value is not None and mode == "json" else value

        return {
            "id": self.id,
            "credential_type": str(self.credential_type),
            "keys": {
                n: {
                    "name": k.name,
                    "value": k.get_secret_value(),
                    "expires_at": when(k.expires_at),
                    "metadata": k.metadata,
                }
                for n, k in self.keys.items()
            },
            "provider_id": self.provider_id,
            "last_refreshed": when(self.last_refreshed),
            "auto_refresh": self.auto_refresh,
            "description": self.description,
            "tags": list(self.tags),
            "created_at": when(self.created_at),
            "updated_at": when(self.updated_at),
        }

    @classmethod
    def model_validate(cls, data: dict[str, Any]) -> CredentialObject:
        return cls(
            id=data["id"],
            credential_type=CredentialType(data.get("credential_type", CredentialType.API_KEY)),
            keys={n: CredentialKey(**k) for n, k in data.get("keys", {}).items()},
            provider_id=data.get("provider_id"),
            last_refreshed=_aware(data.get("last_refreshed")),
            auto_refresh=bool(data.get("auto_refresh", False)),
            description=data.get("description", ""),
            tags=list(data.get("tags", [])),
            created_at=_aware(data.get("created_at")) or datetime.now(UTC),
            updated_at=_aware(data.get("updated_at")) or datetime.now(UTC),
        )


class CredentialStorage(ABC):
    @abstractmethod
    def save(self, credential: CredentialObject) -> None: ...

    @abstractmethod
    def load(self, credential_id: str) -> CredentialObject | None: ...

    @abstractmethod
    def delete(self, credential_id: str) -> bool: ...

    @abstractmethod
    def list_all(self) -> list[str]: ...

    @abstractmethod
    def exists(self, credential_id: str) -> bool: ...


class InMemoryStorage(CredentialStorage):
    """Keeps credentials in this process only."""

    def __init__(self) -> None:
        self._items: dict[str, CredentialObject] = {}

    def save(self, credential: CredentialObject) -> None:
        self._items[credential.id] = credential

    def load(self, credential_id: str) -> CredentialObject | None:
        return self._items.get(credential_id)

    def delete(self, credential_id: str) -> bool:
        return self._items.pop(credential_id, None) is not None

    def list_all(self) -> list[str]:
        return list(self._items)

    def exists(self, credential_id: str) -> bool:
        return credential_id in self._items


class CredentialProvider(ABC):
    @property
    @abstractmethod
    def provider_id(self) -> str: ...

    @property
    @abstractmethod
    def supported_types(self) -> list[CredentialType]: ...

    @abstractmethod
    def refresh(self, credential: CredentialObject) -> CredentialObject: ...

    @abstractmethod
    def validate(self, credential: CredentialObject) -> bool: ...

    def should_refresh(self, credential: CredentialObject) -> bool:
        return credential.needs_refresh

    def revoke(self, credential: CredentialObject) -> bool:
        return False

    def can_handle(self, credential: CredentialObject) -> bool:
        return credential.credential_type in self.supported_types
