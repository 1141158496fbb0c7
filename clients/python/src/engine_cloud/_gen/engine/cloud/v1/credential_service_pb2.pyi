import datetime

from engine_cloud._gen.buf.validate import validate_pb2 as _validate_pb2
from engine_cloud._gen.engine.cloud.v1 import access_pb2 as _access_pb2
from engine_cloud._gen.engine.cloud.v1 import connection_service_pb2 as _connection_service_pb2
from engine_cloud._gen.engine.cloud.v1 import audit_pb2 as _audit_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_TYPE_UNSPECIFIED: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_OAUTH2: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_API_KEY: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_BASIC: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_GENERIC: _ClassVar[CredentialType]
CREDENTIAL_TYPE_UNSPECIFIED: CredentialType
CREDENTIAL_TYPE_OAUTH2: CredentialType
CREDENTIAL_TYPE_API_KEY: CredentialType
CREDENTIAL_TYPE_BASIC: CredentialType
CREDENTIAL_TYPE_GENERIC: CredentialType

class CredentialKey(_message.Message):
    __slots__ = ("value", "expires_at")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    value: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, value: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("id", "project", "provider", "alias", "identity", "type", "keys", "metadata", "scopes", "auto_refresh", "version", "revision", "created_at", "updated_at", "created_by", "updated_by", "connection")
    class IdentityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class KeysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: CredentialKey
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[CredentialKey, _Mapping]] = ...) -> None: ...
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    AUTO_REFRESH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    project: str
    provider: str
    alias: str
    identity: _containers.ScalarMap[str, str]
    type: CredentialType
    keys: _containers.MessageMap[str, CredentialKey]
    metadata: _containers.ScalarMap[str, str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    auto_refresh: bool
    version: int
    revision: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    created_by: str
    updated_by: str
    connection: ConnectionLink
    def __init__(self, id: _Optional[str] = ..., project: _Optional[str] = ..., provider: _Optional[str] = ..., alias: _Optional[str] = ..., identity: _Optional[_Mapping[str, str]] = ..., type: _Optional[_Union[CredentialType, str]] = ..., keys: _Optional[_Mapping[str, CredentialKey]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., scopes: _Optional[_Iterable[str]] = ..., auto_refresh: _Optional[bool] = ..., version: _Optional[int] = ..., revision: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., updated_by: _Optional[str] = ..., connection: _Optional[_Union[ConnectionLink, _Mapping]] = ...) -> None: ...

class ConnectionLink(_message.Message):
    __slots__ = ("id", "status", "status_reason", "status_description", "reauthorize_url")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REAUTHORIZE_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: _connection_service_pb2.ConnectionStatus
    status_reason: str
    status_description: str
    reauthorize_url: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[_connection_service_pb2.ConnectionStatus, str]] = ..., status_reason: _Optional[str] = ..., status_description: _Optional[str] = ..., reauthorize_url: _Optional[str] = ...) -> None: ...

class PutCredentialRequest(_message.Message):
    __slots__ = ("project", "provider", "alias", "identity", "type", "keys", "metadata", "scopes", "auto_refresh", "expected_version")
    class IdentityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class KeysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: CredentialKey
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[CredentialKey, _Mapping]] = ...) -> None: ...
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    AUTO_REFRESH_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    provider: str
    alias: str
    identity: _containers.ScalarMap[str, str]
    type: CredentialType
    keys: _containers.MessageMap[str, CredentialKey]
    metadata: _containers.ScalarMap[str, str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    auto_refresh: bool
    expected_version: int
    def __init__(self, project: _Optional[str] = ..., provider: _Optional[str] = ..., alias: _Optional[str] = ..., identity: _Optional[_Mapping[str, str]] = ..., type: _Optional[_Union[CredentialType, str]] = ..., keys: _Optional[_Mapping[str, CredentialKey]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., scopes: _Optional[_Iterable[str]] = ..., auto_refresh: _Optional[bool] = ..., expected_version: _Optional[int] = ...) -> None: ...

class PutCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class GetCredentialRequest(_message.Message):
    __slots__ = ("id", "project", "provider", "alias")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project: str
    provider: str
    alias: str
    def __init__(self, id: _Optional[str] = ..., project: _Optional[str] = ..., provider: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class GetCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class ListCredentialsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "project", "provider")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    project: str
    provider: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., project: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class ListCredentialsResponse(_message.Message):
    __slots__ = ("credentials", "next_page_token")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    credentials: _containers.RepeatedCompositeFieldContainer[Credential]
    next_page_token: str
    def __init__(self, credentials: _Optional[_Iterable[_Union[Credential, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteCredentialRequest(_message.Message):
    __slots__ = ("id", "expected_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    expected_version: int
    def __init__(self, id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteCredentialResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...
