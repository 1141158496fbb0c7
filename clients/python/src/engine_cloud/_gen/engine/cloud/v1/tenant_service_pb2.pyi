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

class TenantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TENANT_STATE_UNSPECIFIED: _ClassVar[TenantState]
    TENANT_STATE_ACTIVE: _ClassVar[TenantState]
    TENANT_STATE_SUSPENDED: _ClassVar[TenantState]
    TENANT_STATE_DELETED: _ClassVar[TenantState]
TENANT_STATE_UNSPECIFIED: TenantState
TENANT_STATE_ACTIVE: TenantState
TENANT_STATE_SUSPENDED: TenantState
TENANT_STATE_DELETED: TenantState

class Tenant(_message.Message):
    __slots__ = ("id", "slug", "display_name", "state", "created_at", "updated_at", "deleted_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    slug: str
    display_name: str
    state: TenantState
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    deleted_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., slug: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[TenantState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTenantRequest(_message.Message):
    __slots__ = ("slug", "display_name")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    slug: str
    display_name: str
    def __init__(self, slug: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class CreateTenantResponse(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ...) -> None: ...

class GetTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class GetTenantResponse(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ...) -> None: ...

class ListTenantsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_deleted")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_DELETED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_deleted: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_deleted: _Optional[bool] = ...) -> None: ...

class ListTenantsResponse(_message.Message):
    __slots__ = ("tenants", "next_page_token")
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenants: _containers.RepeatedCompositeFieldContainer[Tenant]
    next_page_token: str
    def __init__(self, tenants: _Optional[_Iterable[_Union[Tenant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTenantRequest(_message.Message):
    __slots__ = ("tenant", "display_name")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    display_name: str
    def __init__(self, tenant: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class UpdateTenantResponse(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ...) -> None: ...

class SuspendTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class SuspendTenantResponse(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ...) -> None: ...

class ResumeTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ResumeTenantResponse(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ...) -> None: ...

class DeleteTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class DeleteTenantResponse(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ...) -> None: ...

class TenantLimits(_message.Message):
    __slots__ = ("token_requests_per_second", "tenant_requests_per_second", "token_streams", "tenant_streams", "tenant_credentials", "tenant_connections")
    TOKEN_REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TENANT_REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TOKEN_STREAMS_FIELD_NUMBER: _ClassVar[int]
    TENANT_STREAMS_FIELD_NUMBER: _ClassVar[int]
    TENANT_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    TENANT_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    token_requests_per_second: int
    tenant_requests_per_second: int
    token_streams: int
    tenant_streams: int
    tenant_credentials: int
    tenant_connections: int
    def __init__(self, token_requests_per_second: _Optional[int] = ..., tenant_requests_per_second: _Optional[int] = ..., token_streams: _Optional[int] = ..., tenant_streams: _Optional[int] = ..., tenant_credentials: _Optional[int] = ..., tenant_connections: _Optional[int] = ...) -> None: ...

class TenantLimitSettings(_message.Message):
    __slots__ = ("tenant_id", "effective", "defaults", "overrides")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    effective: TenantLimits
    defaults: TenantLimits
    overrides: TenantLimits
    def __init__(self, tenant_id: _Optional[str] = ..., effective: _Optional[_Union[TenantLimits, _Mapping]] = ..., defaults: _Optional[_Union[TenantLimits, _Mapping]] = ..., overrides: _Optional[_Union[TenantLimits, _Mapping]] = ...) -> None: ...

class TenantLimitsUsage(_message.Message):
    __slots__ = ("token_streams", "tenant_streams", "tenant_credentials", "tenant_connections")
    TOKEN_STREAMS_FIELD_NUMBER: _ClassVar[int]
    TENANT_STREAMS_FIELD_NUMBER: _ClassVar[int]
    TENANT_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    TENANT_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    token_streams: int
    tenant_streams: int
    tenant_credentials: int
    tenant_connections: int
    def __init__(self, token_streams: _Optional[int] = ..., tenant_streams: _Optional[int] = ..., tenant_credentials: _Optional[int] = ..., tenant_connections: _Optional[int] = ...) -> None: ...

class GetTenantLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTenantLimitsResponse(_message.Message):
    __slots__ = ("settings", "usage")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    settings: TenantLimitSettings
    usage: TenantLimitsUsage
    def __init__(self, settings: _Optional[_Union[TenantLimitSettings, _Mapping]] = ..., usage: _Optional[_Union[TenantLimitsUsage, _Mapping]] = ...) -> None: ...

class SetTenantLimitsRequest(_message.Message):
    __slots__ = ("tenant", "overrides")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    overrides: TenantLimits
    def __init__(self, tenant: _Optional[str] = ..., overrides: _Optional[_Union[TenantLimits, _Mapping]] = ...) -> None: ...

class SetTenantLimitsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: TenantLimitSettings
    def __init__(self, settings: _Optional[_Union[TenantLimitSettings, _Mapping]] = ...) -> None: ...
