import datetime

from engine_cloud._gen.buf.validate import validate_pb2 as _validate_pb2
from engine_cloud._gen.engine.cloud.v1 import access_pb2 as _access_pb2
from engine_cloud._gen.engine.cloud.v1 import audit_pb2 as _audit_pb2
from engine_cloud._gen.engine.cloud.v1 import oauth_provider_pb2 as _oauth_provider_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OAuthApp(_message.Message):
    __slots__ = ("id", "provider", "client_id", "has_client_secret", "scopes", "shared", "custom_provider", "version", "created_at", "updated_at", "updated_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    client_id: str
    has_client_secret: bool
    scopes: _containers.RepeatedScalarFieldContainer[str]
    shared: bool
    custom_provider: _oauth_provider_pb2.OAuthProvider
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., client_id: _Optional[str] = ..., has_client_secret: _Optional[bool] = ..., scopes: _Optional[_Iterable[str]] = ..., shared: _Optional[bool] = ..., custom_provider: _Optional[_Union[_oauth_provider_pb2.OAuthProvider, _Mapping]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class SetOAuthAppRequest(_message.Message):
    __slots__ = ("provider", "client_id", "client_secret", "scopes", "shared", "custom_provider")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    client_id: str
    client_secret: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    shared: bool
    custom_provider: _oauth_provider_pb2.OAuthProvider
    def __init__(self, provider: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., shared: _Optional[bool] = ..., custom_provider: _Optional[_Union[_oauth_provider_pb2.OAuthProvider, _Mapping]] = ...) -> None: ...

class SetOAuthAppResponse(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: OAuthApp
    def __init__(self, app: _Optional[_Union[OAuthApp, _Mapping]] = ...) -> None: ...

class ListOAuthAppsRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class ListOAuthAppsResponse(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[OAuthApp]
    def __init__(self, apps: _Optional[_Iterable[_Union[OAuthApp, _Mapping]]] = ...) -> None: ...

class DeleteOAuthAppRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class DeleteOAuthAppResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...
