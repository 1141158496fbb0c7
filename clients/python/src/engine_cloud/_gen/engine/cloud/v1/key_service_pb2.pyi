from engine_cloud._gen.engine.cloud.v1 import access_pb2 as _access_pb2
from engine_cloud._gen.engine.cloud.v1 import audit_pb2 as _audit_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RotateRootKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateRootKeyResponse(_message.Message):
    __slots__ = ("root_key_id", "rewrapped", "unchanged")
    ROOT_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    root_key_id: str
    rewrapped: int
    unchanged: int
    def __init__(self, root_key_id: _Optional[str] = ..., rewrapped: _Optional[int] = ..., unchanged: _Optional[int] = ...) -> None: ...
