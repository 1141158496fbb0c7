"""Engine OSS's credential base classes and models when `engine.credentials` is importable, else our stand-ins.

The submodules are imported, not the package: Engine OSS's `engine/credentials/__init__.py` imports this
package (as `engine.credentials.engine`) while it is itself still initializing.
"""

from __future__ import annotations

try:
    from engine.credentials.models import (  # type: ignore[import-not-found]
        CredentialKey,
        CredentialObject,
        CredentialRefreshError,
        CredentialType,
    )
    from engine.credentials.provider import CredentialProvider  # type: ignore[import-not-found]
    from engine.credentials.storage import CredentialStorage  # type: ignore[import-not-found]

    ENGINE_OSS = True
except ImportError:
    from .standalone import (  # type: ignore[assignment]
        CredentialKey,
        CredentialObject,
        CredentialProvider,
        CredentialRefreshError,
        CredentialStorage,
        CredentialType,
    )

    ENGINE_OSS = False

__all__ = [
    "ENGINE_OSS",
    "CredentialKey",
    "CredentialObject",
    "CredentialProvider",
    "CredentialRefreshError",
    "CredentialStorage",
    "CredentialType",
]
