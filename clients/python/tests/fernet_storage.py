"""A stand-in for Engine OSS's EncryptedFileStorage: one Fernet token per credential under
`credentials/{safe_id}.enc` and `metadata/index.json`, keyed by ENGINE_CREDENTIAL_KEY. Written for the tests
from the description of that storage (the package itself needs no cryptography)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet

from engine_cloud._oss import CredentialObject, CredentialStorage


class FernetFileStorage(CredentialStorage):
    def __init__(self, base_path: str | Path, key: bytes | None = None) -> None:
        self.base = Path(base_path)
        (self.base / "credentials").mkdir(parents=True, exist_ok=True)
        (self.base / "metadata").mkdir(parents=True, exist_ok=True)
        self._fernet = Fernet(key or os.environ["ENGINE_CREDENTIAL_KEY"].encode())

    def _file(self, credential_id: str) -> Path:
        safe = credential_id.replace("/", "_").replace("\\", "_").replace("..", "_")
        return self.base / "credentials" / f"{safe}.enc"

    def _index(self) -> dict[str, dict[str, str]]:
        path = self.base / "metadata" / "index.json"
        return json.loads(path.read_text())["credentials"] if path.exists() else {}

    def _write_index(self, entries: dict[str, dict[str, str]]) -> None:
        text = json.dumps({"credentials": entries, "version": "1.0"})
        (self.base / "metadata" / "index.json").write_text(text)

    def save(self, credential: CredentialObject) -> None:
        data = json.dumps(credential.model_dump(mode="json"), default=str).encode()
        self._file(credential.id).write_bytes(self._fernet.encrypt(data))
        entries = self._index()
        entries[credential.id] = {"type": str(credential.credential_type)}
        self._write_index(entries)

    def load(self, credential_id: str) -> CredentialObject | None:
        path = self._file(credential_id)
        if not path.exists():
            return None
        return CredentialObject.model_validate(json.loads(self._fernet.decrypt(path.read_bytes())))

    def delete(self, credential_id: str) -> bool:
        entries = self._index()
        entries.pop(credential_id, None)
        self._write_index(entries)
        path = self._file(credential_id)
        if not path.exists():
            return False
        path.unlink()
        return True

    def list_all(self) -> list[str]:
        return list(self._index())

    def exists(self, credential_id: str) -> bool:
        return self._file(credential_id).exists()
