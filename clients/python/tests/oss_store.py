"""The parts of Engine OSS's CredentialStore that drive our classes, restated for the tests (the real one is
not installable here): lookups go to the storage; a credential due for refresh goes to the provider found by
provider_id or can_handle, a CredentialRefreshError keeps the old credential; by-alias lookups strip a
leading "provider/"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine_cloud._oss import CredentialObject, CredentialProvider, CredentialRefreshError, CredentialStorage


class OssStore:
    def __init__(self, storage: CredentialStorage, providers: list[CredentialProvider]) -> None:
        self.storage = storage
        self.providers = providers

    def _provider_for(self, credential: CredentialObject) -> CredentialProvider | None:
        by_id = next((p for p in self.providers if p.provider_id == credential.provider_id), None)
        return by_id or next((p for p in self.providers if p.can_handle(credential)), None)

    def get_credential(self, credential_id: str, refresh_if_needed: bool = True) -> CredentialObject | None:
        credential = self.storage.load(credential_id)
        if credential is None or not refresh_if_needed or not credential.auto_refresh:
            return credential
        provider = self._provider_for(credential)
        if provider is None or not provider.should_refresh(credential):
            return credential
        try:
            refreshed = provider.refresh(credential)
        except CredentialRefreshError:
            return credential
        refreshed.last_refreshed = datetime.now(UTC)
        self.storage.save(refreshed)
        return refreshed

    def get_key(self, credential_id: str, key: str) -> str | None:
        credential = self.get_credential(credential_id)
        return credential.get_key(key) if credential else None

    def save_credential(self, credential: CredentialObject) -> None:
        self.storage.save(credential)

    def delete_credential(self, credential_id: str) -> bool:
        return self.storage.delete(credential_id)

    def list_accounts(self, provider_name: str) -> list[dict[str, Any]]:
        found = self.storage.load_all_for_provider(provider_name)  # type: ignore[attr-defined]
        return [{"credential_id": c.id, "provider": provider_name, "alias": c.alias} for c in found]

    def get_credential_by_alias(self, provider_name: str, alias: str) -> CredentialObject | None:
        alias = alias.removeprefix(f"{provider_name}/")
        return self.storage.load_by_alias(provider_name, alias)  # type: ignore[attr-defined]
