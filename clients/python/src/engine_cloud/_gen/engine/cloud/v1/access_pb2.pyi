from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor
SECRET_BEARING_FIELD_NUMBER: _ClassVar[int]
secret_bearing: _descriptor.FieldDescriptor

class Access(_message.Message):
    __slots__ = ("permission", "platform", "authenticated", "public")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    permission: str
    platform: bool
    authenticated: bool
    public: bool
    def __init__(self, permission: _Optional[str] = ..., platform: _Optional[bool] = ..., authenticated: _Optional[bool] = ..., public: _Optional[bool] = ...) -> None: ...
