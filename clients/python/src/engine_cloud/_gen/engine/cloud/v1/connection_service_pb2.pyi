import datetime

from engine_cloud._gen.buf.validate import validate_pb2 as _validate_pb2
from engine_cloud._gen.engine.cloud.v1 import access_pb2 as _access_pb2
from engine_cloud._gen.engine.cloud.v1 import audit_pb2 as _audit_pb2
from engine_cloud._gen.engine.cloud.v1 import oauth_provider_pb2 as _oauth_provider_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONNECTION_STATUS_UNSPECIFIED: _ClassVar[ConnectionStatus]
    CONNECTION_STATUS_ACTIVE: _ClassVar[ConnectionStatus]
    CONNECTION_STATUS_DEGRADED: _ClassVar[ConnectionStatus]
    CONNECTION_STATUS_STALE: _ClassVar[ConnectionStatus]
    CONNECTION_STATUS_NEEDS_REAUTH: _ClassVar[ConnectionStatus]
    CONNECTION_STATUS_DISCONNECTED: _ClassVar[ConnectionStatus]

class ConnectFlowState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONNECT_FLOW_STATE_UNSPECIFIED: _ClassVar[ConnectFlowState]
    CONNECT_FLOW_STATE_PENDING: _ClassVar[ConnectFlowState]
    CONNECT_FLOW_STATE_COMPLETED: _ClassVar[ConnectFlowState]
    CONNECT_FLOW_STATE_FAILED: _ClassVar[ConnectFlowState]
    CONNECT_FLOW_STATE_EXPIRED: _ClassVar[ConnectFlowState]
CONNECTION_STATUS_UNSPECIFIED: ConnectionStatus
CONNECTION_STATUS_ACTIVE: ConnectionStatus
CONNECTION_STATUS_DEGRADED: ConnectionStatus
CONNECTION_STATUS_STALE: ConnectionStatus
CONNECTION_STATUS_NEEDS_REAUTH: ConnectionStatus
CONNECTION_STATUS_DISCONNECTED: ConnectionStatus
CONNECT_FLOW_STATE_UNSPECIFIED: ConnectFlowState
CONNECT_FLOW_STATE_PENDING: ConnectFlowState
CONNECT_FLOW_STATE_COMPLETED: ConnectFlowState
CONNECT_FLOW_STATE_FAILED: ConnectFlowState
CONNECT_FLOW_STATE_EXPIRED: ConnectFlowState

class Connection(_message.Message):
    __slots__ = ("id", "provider", "project", "alias", "external_account", "status", "status_reason", "status_description", "scopes", "metadata", "access_token_expires_at", "last_refresh_at", "next_refresh_at", "generation", "shared_app", "created_at", "updated_at", "created_by", "updated_by")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_REFRESH_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_REFRESH_AT_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    SHARED_APP_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    project: str
    alias: str
    external_account: str
    status: ConnectionStatus
    status_reason: str
    status_description: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    access_token_expires_at: _timestamp_pb2.Timestamp
    last_refresh_at: _timestamp_pb2.Timestamp
    next_refresh_at: _timestamp_pb2.Timestamp
    generation: int
    shared_app: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    created_by: str
    updated_by: str
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., project: _Optional[str] = ..., alias: _Optional[str] = ..., external_account: _Optional[str] = ..., status: _Optional[_Union[ConnectionStatus, str]] = ..., status_reason: _Optional[str] = ..., status_description: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., access_token_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_refresh_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_refresh_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generation: _Optional[int] = ..., shared_app: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., updated_by: _Optional[str] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[_oauth_provider_pb2.OAuthProvider]
    def __init__(self, providers: _Optional[_Iterable[_Union[_oauth_provider_pb2.OAuthProvider, _Mapping]]] = ...) -> None: ...

class StartConnectRequest(_message.Message):
    __slots__ = ("provider", "project", "alias", "scopes", "url_parameters")
    class UrlParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    URL_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    project: str
    alias: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    url_parameters: _containers.ScalarMap[str, str]
    def __init__(self, provider: _Optional[str] = ..., project: _Optional[str] = ..., alias: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., url_parameters: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StartConnectResponse(_message.Message):
    __slots__ = ("authorization_url", "flow")
    AUTHORIZATION_URL_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    authorization_url: str
    flow: ConnectFlow
    def __init__(self, authorization_url: _Optional[str] = ..., flow: _Optional[_Union[ConnectFlow, _Mapping]] = ...) -> None: ...

class ConnectFlow(_message.Message):
    __slots__ = ("id", "provider", "project", "alias", "state", "connection_id", "error", "error_description", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    project: str
    alias: str
    state: ConnectFlowState
    connection_id: str
    error: str
    error_description: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., project: _Optional[str] = ..., alias: _Optional[str] = ..., state: _Optional[_Union[ConnectFlowState, str]] = ..., connection_id: _Optional[str] = ..., error: _Optional[str] = ..., error_description: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetConnectFlowRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetConnectFlowResponse(_message.Message):
    __slots__ = ("flow",)
    FLOW_FIELD_NUMBER: _ClassVar[int]
    flow: ConnectFlow
    def __init__(self, flow: _Optional[_Union[ConnectFlow, _Mapping]] = ...) -> None: ...

class GetConnectionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetConnectionResponse(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ...) -> None: ...

class ListConnectionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "provider")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    provider: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class ListConnectionsResponse(_message.Message):
    __slots__ = ("connections", "next_page_token")
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[Connection]
    next_page_token: str
    def __init__(self, connections: _Optional[_Iterable[_Union[Connection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisconnectConnectionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DisconnectConnectionResponse(_message.Message):
    __slots__ = ("connection", "revoked_at_provider")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    revoked_at_provider: bool
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ..., revoked_at_provider: _Optional[bool] = ...) -> None: ...

class RefreshConnectionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RefreshConnectionResponse(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ...) -> None: ...
