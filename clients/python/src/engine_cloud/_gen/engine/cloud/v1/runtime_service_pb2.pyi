import datetime

from engine_cloud._gen.buf.validate import validate_pb2 as _validate_pb2
from engine_cloud._gen.engine.cloud.v1 import access_pb2 as _access_pb2
from engine_cloud._gen.engine.cloud.v1 import audit_pb2 as _audit_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNTIME_STATE_UNSPECIFIED: _ClassVar[RuntimeState]
    RUNTIME_STATE_CONNECTED: _ClassVar[RuntimeState]
    RUNTIME_STATE_OFFLINE: _ClassVar[RuntimeState]
RUNTIME_STATE_UNSPECIFIED: RuntimeState
RUNTIME_STATE_CONNECTED: RuntimeState
RUNTIME_STATE_OFFLINE: RuntimeState

class RuntimeInfo(_message.Message):
    __slots__ = ("name", "version", "host", "sdk", "sdk_version", "language")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SDK_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    host: str
    sdk: str
    sdk_version: str
    language: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., host: _Optional[str] = ..., sdk: _Optional[str] = ..., sdk_version: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class Runtime(_message.Message):
    __slots__ = ("stream_id", "tenant_id", "token_id", "token_label", "project", "info", "runtime_id", "connected_since", "last_seen_at", "offline_since", "server_instance", "revision_delivered", "revision_lag", "state")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LABEL_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_SINCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_SINCE_FIELD_NUMBER: _ClassVar[int]
    SERVER_INSTANCE_FIELD_NUMBER: _ClassVar[int]
    REVISION_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    REVISION_LAG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    tenant_id: str
    token_id: str
    token_label: str
    project: str
    info: RuntimeInfo
    runtime_id: str
    connected_since: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    offline_since: _timestamp_pb2.Timestamp
    server_instance: str
    revision_delivered: int
    revision_lag: int
    state: RuntimeState
    def __init__(self, stream_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., token_id: _Optional[str] = ..., token_label: _Optional[str] = ..., project: _Optional[str] = ..., info: _Optional[_Union[RuntimeInfo, _Mapping]] = ..., runtime_id: _Optional[str] = ..., connected_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., offline_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., server_instance: _Optional[str] = ..., revision_delivered: _Optional[int] = ..., revision_lag: _Optional[int] = ..., state: _Optional[_Union[RuntimeState, str]] = ...) -> None: ...

class ListRuntimesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "project", "tenant_id", "include_offline")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_OFFLINE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    project: str
    tenant_id: str
    include_offline: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., project: _Optional[str] = ..., tenant_id: _Optional[str] = ..., include_offline: _Optional[bool] = ...) -> None: ...

class ListRuntimesResponse(_message.Message):
    __slots__ = ("runtimes", "next_page_token")
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runtimes: _containers.RepeatedCompositeFieldContainer[Runtime]
    next_page_token: str
    def __init__(self, runtimes: _Optional[_Iterable[_Union[Runtime, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
