from engine_cloud._gen.buf.validate import validate_pb2 as _validate_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TokenAuthMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_AUTH_METHOD_UNSPECIFIED: _ClassVar[TokenAuthMethod]
    TOKEN_AUTH_METHOD_CLIENT_SECRET_POST: _ClassVar[TokenAuthMethod]
    TOKEN_AUTH_METHOD_CLIENT_SECRET_BASIC: _ClassVar[TokenAuthMethod]
TOKEN_AUTH_METHOD_UNSPECIFIED: TokenAuthMethod
TOKEN_AUTH_METHOD_CLIENT_SECRET_POST: TokenAuthMethod
TOKEN_AUTH_METHOD_CLIENT_SECRET_BASIC: TokenAuthMethod

class OAuthProvider(_message.Message):
    __slots__ = ("id", "display_name", "authorize_url", "token_url", "revocation_url", "default_scopes", "scope_separator", "pkce", "token_auth_method", "rotates_refresh_tokens", "rotation_grace_seconds", "default_lifetime_seconds", "token_metadata", "authorize_params", "account_id_field", "url_parameters", "custom", "issuer", "reconnect_keeps_old_grant")
    class AuthorizeParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_URL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_URL_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_URL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SCOPES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_SEPARATOR_FIELD_NUMBER: _ClassVar[int]
    PKCE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    ROTATES_REFRESH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ROTATION_GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LIFETIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_METADATA_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    URL_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_KEEPS_OLD_GRANT_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    authorize_url: str
    token_url: str
    revocation_url: str
    default_scopes: _containers.RepeatedScalarFieldContainer[str]
    scope_separator: str
    pkce: bool
    token_auth_method: TokenAuthMethod
    rotates_refresh_tokens: bool
    rotation_grace_seconds: int
    default_lifetime_seconds: int
    token_metadata: _containers.RepeatedScalarFieldContainer[str]
    authorize_params: _containers.ScalarMap[str, str]
    account_id_field: str
    url_parameters: _containers.RepeatedScalarFieldContainer[str]
    custom: bool
    issuer: str
    reconnect_keeps_old_grant: bool
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., authorize_url: _Optional[str] = ..., token_url: _Optional[str] = ..., revocation_url: _Optional[str] = ..., default_scopes: _Optional[_Iterable[str]] = ..., scope_separator: _Optional[str] = ..., pkce: _Optional[bool] = ..., token_auth_method: _Optional[_Union[TokenAuthMethod, str]] = ..., rotates_refresh_tokens: _Optional[bool] = ..., rotation_grace_seconds: _Optional[int] = ..., default_lifetime_seconds: _Optional[int] = ..., token_metadata: _Optional[_Iterable[str]] = ..., authorize_params: _Optional[_Mapping[str, str]] = ..., account_id_field: _Optional[str] = ..., url_parameters: _Optional[_Iterable[str]] = ..., custom: _Optional[bool] = ..., issuer: _Optional[str] = ..., reconnect_keeps_old_grant: _Optional[bool] = ...) -> None: ...
