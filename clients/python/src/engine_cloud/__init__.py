"""Engine Cloud runtime client for Engine OSS.

The four classes Engine OSS's ``CredentialStore.with_engine_sync()`` imports from ``engine.credentials.engine``
(and its TUI and tools from ``engine.credentials.oauth``). In an Engine OSS install, make them importable there
with one line (see the README, "Python runtimes")::

    from engine_cloud import *  # noqa: F403  (the whole of engine/credentials/engine.py)
"""

__version__ = "0.1.0"

from ._oss import ENGINE_OSS  # noqa: E402
from .client import CredentialValidation, EngineCredentialClient, RefreshResult  # noqa: E402
from .config import EngineClientConfig  # noqa: E402
from .errors import (  # noqa: E402
    ERROR_DOMAIN,
    EngineAuthenticationError,
    EngineCloudError,
    EngineConfigError,
    EngineNotFoundError,
    EngineNotRefreshableError,
    EnginePolicyDeniedError,
    EngineReauthorizationRequiredError,
    EngineUnavailableError,
)
from .provider import EngineSyncProvider, SyncStatus  # noqa: E402
from .storage import EngineCachedStorage  # noqa: E402

__all__ = [
    "ENGINE_OSS",
    "ERROR_DOMAIN",
    "CredentialValidation",
    "EngineAuthenticationError",
    "EngineCachedStorage",
    "EngineClientConfig",
    "EngineCloudError",
    "EngineConfigError",
    "EngineCredentialClient",
    "EngineNotFoundError",
    "EngineNotRefreshableError",
    "EnginePolicyDeniedError",
    "EngineReauthorizationRequiredError",
    "EngineSyncProvider",
    "EngineUnavailableError",
    "RefreshResult",
    "SyncStatus",
]
