"""Inside an Engine OSS install the classes subclass its bases and build its CredentialObjects.

Engine OSS is not installable here, so a skeleton `engine.credentials` stands in: its package imports the
sync module while it is still initializing (`from .engine import ...` in a try/except ImportError), as the
real one does, and `engine/credentials/engine.py` is the one line the README documents.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

README_LINE = "from engine_cloud import *  # noqa: F403"

SKELETON = {
    "engine/__init__.py": "",
    "engine/credentials/__init__.py": """
        from .models import CredentialKey, CredentialObject, CredentialRefreshError, CredentialType
        from .provider import CredentialProvider
        from .storage import CredentialStorage
        try:
            from .engine import EngineCachedStorage, EngineClientConfig, EngineCredentialClient, EngineSyncProvider
            ENGINE_SYNC_AVAILABLE = True
        except ImportError:
            ENGINE_SYNC_AVAILABLE = False
    """,
    "engine/credentials/models.py": """
        import enum
        from dataclasses import dataclass, field
        from datetime import datetime
        class CredentialType(enum.StrEnum):
            API_KEY = "api_key"; OAUTH2 = "oauth2"; BASIC_AUTH = "basic_auth"
            BEARER_TOKEN = "bearer_token"; CUSTOM = "custom"
        class CredentialRefreshError(Exception): pass
        @dataclass
        class CredentialKey:
            name: str
            value: str
            expires_at: datetime | None = None
        @dataclass
        class CredentialObject:
            id: str
            credential_type: CredentialType = CredentialType.API_KEY
            keys: dict = field(default_factory=dict)
            provider_id: str | None = None
            auto_refresh: bool = False
            last_refreshed: datetime | None = None
            created_at: datetime | None = None
            updated_at: datetime | None = None
            def get_key(self, name):
                key = self.keys.get(name)
                return key.value if key else None
    """,
    "engine/credentials/provider.py": """
        from abc import ABC
        class CredentialProvider(ABC): pass
    """,
    "engine/credentials/storage.py": """
        from abc import ABC
        class CredentialStorage(ABC): pass
    """,
    "engine/credentials/engine.py": README_LINE,
}

CHECK = """
import engine.credentials as oss
assert oss.ENGINE_SYNC_AVAILABLE
import engine_cloud
from engine_cloud._gen.engine.cloud.v1 import credential_service_pb2 as pb
from engine_cloud.credential_objects import to_credential_object
assert engine_cloud.ENGINE_OSS
assert issubclass(oss.EngineSyncProvider, oss.CredentialProvider)
assert issubclass(oss.EngineCachedStorage, oss.CredentialStorage)
credential = pb.Credential(id="c1", provider="hubspot", alias="work", type=pb.CREDENTIAL_TYPE_OAUTH2)
credential.keys["access_token"].value = "t"
built = to_credential_object(credential, "engine_sync")
assert isinstance(built, oss.CredentialObject) and built.credential_type == oss.CredentialType.OAUTH2
names = ("access_token", "_integration_type", "_alias")
assert tuple(built.get_key(n) for n in names) == ("t", "hubspot", "work")
print("ok")
"""


def test_the_readme_line_makes_the_classes_engine_oss_classes(tmp_path: Path):
    for name, text in SKELETON.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_without_engine_oss_the_package_stands_alone():
    result = subprocess.run(
        [sys.executable, "-c", "import engine_cloud; print(engine_cloud.ENGINE_OSS)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False", result.stderr
