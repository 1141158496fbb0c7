from engine_cloud._gen.buf.validate import validate_pb2 as _validate_pb2
from engine_cloud._gen.engine.cloud.v1 import access_pb2 as _access_pb2
from engine_cloud._gen.engine.cloud.v1 import audit_pb2 as _audit_pb2
from engine_cloud._gen.engine.cloud.v1 import credential_service_pb2 as _credential_service_pb2
from engine_cloud._gen.engine.cloud.v1 import project_service_pb2 as _project_service_pb2
from engine_cloud._gen.engine.cloud.v1 import runtime_service_pb2 as _runtime_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResourceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOURCE_KIND_UNSPECIFIED: _ClassVar[ResourceKind]
    RESOURCE_KIND_CREDENTIAL: _ClassVar[ResourceKind]
    RESOURCE_KIND_PROJECT: _ClassVar[ResourceKind]
RESOURCE_KIND_UNSPECIFIED: ResourceKind
RESOURCE_KIND_CREDENTIAL: ResourceKind
RESOURCE_KIND_PROJECT: ResourceKind

class WatchRequest(_message.Message):
    __slots__ = ("project", "since_revision", "runtime_id", "kinds", "runtime")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SINCE_REVISION_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ID_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    project: str
    since_revision: int
    runtime_id: str
    kinds: _containers.RepeatedScalarFieldContainer[ResourceKind]
    runtime: _runtime_service_pb2.RuntimeInfo
    def __init__(self, project: _Optional[str] = ..., since_revision: _Optional[int] = ..., runtime_id: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[ResourceKind, str]]] = ..., runtime: _Optional[_Union[_runtime_service_pb2.RuntimeInfo, _Mapping]] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("revision", "reset", "upsert", "delete", "caught_up", "heartbeat", "upsert_resource", "delete_resource")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    UPSERT_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    DELETE_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    revision: int
    reset: Reset
    upsert: _credential_service_pb2.Credential
    delete: Tombstone
    caught_up: CaughtUp
    heartbeat: Heartbeat
    upsert_resource: SyncedResource
    delete_resource: DeletedResource
    def __init__(self, revision: _Optional[int] = ..., reset: _Optional[_Union[Reset, _Mapping]] = ..., upsert: _Optional[_Union[_credential_service_pb2.Credential, _Mapping]] = ..., delete: _Optional[_Union[Tombstone, _Mapping]] = ..., caught_up: _Optional[_Union[CaughtUp, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., upsert_resource: _Optional[_Union[SyncedResource, _Mapping]] = ..., delete_resource: _Optional[_Union[DeletedResource, _Mapping]] = ...) -> None: ...

class SyncedResource(_message.Message):
    __slots__ = ("credential", "project")
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    credential: _credential_service_pb2.Credential
    project: _project_service_pb2.Project
    def __init__(self, credential: _Optional[_Union[_credential_service_pb2.Credential, _Mapping]] = ..., project: _Optional[_Union[_project_service_pb2.Project, _Mapping]] = ...) -> None: ...

class DeletedResource(_message.Message):
    __slots__ = ("kind", "id", "project", "credential")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    kind: ResourceKind
    id: str
    project: str
    credential: Tombstone
    def __init__(self, kind: _Optional[_Union[ResourceKind, str]] = ..., id: _Optional[str] = ..., project: _Optional[str] = ..., credential: _Optional[_Union[Tombstone, _Mapping]] = ...) -> None: ...

class Reset(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Tombstone(_message.Message):
    __slots__ = ("id", "provider", "alias", "project")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    alias: str
    project: str
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., alias: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class CaughtUp(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("project", "since_revision", "kinds")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SINCE_REVISION_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    since_revision: int
    kinds: _containers.RepeatedScalarFieldContainer[ResourceKind]
    def __init__(self, project: _Optional[str] = ..., since_revision: _Optional[int] = ..., kinds: _Optional[_Iterable[_Union[ResourceKind, str]]] = ...) -> None: ...

class PullResponse(_message.Message):
    __slots__ = ("events", "revision")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[WatchResponse]
    revision: int
    def __init__(self, events: _Optional[_Iterable[_Union[WatchResponse, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class RefreshCredentialRequest(_message.Message):
    __slots__ = ("project", "id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    id: str
    def __init__(self, project: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class RefreshCredentialResponse(_message.Message):
    __slots__ = ("credential", "refreshed")
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    REFRESHED_FIELD_NUMBER: _ClassVar[int]
    credential: _credential_service_pb2.Credential
    refreshed: bool
    def __init__(self, credential: _Optional[_Union[_credential_service_pb2.Credential, _Mapping]] = ..., refreshed: _Optional[bool] = ...) -> None: ...
