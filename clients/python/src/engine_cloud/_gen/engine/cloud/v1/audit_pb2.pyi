from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
AUDIT_FIELD_NUMBER: _ClassVar[int]
audit: _descriptor.FieldDescriptor

class Audit(_message.Message):
    __slots__ = ("action", "not_audited")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NOT_AUDITED_FIELD_NUMBER: _ClassVar[int]
    action: str
    not_audited: str
    def __init__(self, action: _Optional[str] = ..., not_audited: _Optional[str] = ...) -> None: ...
