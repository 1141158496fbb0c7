"""Reads google.rpc.Status and its google.rpc.ErrorInfo from the grpc-status-details-bin trailer.

A dozen lines of protobuf wire decoding instead of generated google/rpc modules: those would register
"google/rpc/status.proto" in protobuf's default pool, and an install that also has googleapis-common-protos
(grpcio-status pulls it in) would then fail at import time on the duplicate file name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_INFO_TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo"


@dataclass(frozen=True)
class ErrorInfo:
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of each field: ints for varints, bytes for length-delimited; others skipped."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
    return out


def _text(value: int | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _error_info(data: bytes) -> ErrorInfo:
    reason = domain = ""
    metadata: dict[str, str] = {}
    for number, value in _fields(data):
        if number == 1:
            reason = _text(value)
        elif number == 2:
            domain = _text(value)
        elif number == 3 and isinstance(value, bytes):
            entry = dict(_fields(value))
            metadata[_text(entry.get(1, b""))] = _text(entry.get(2, b""))
    return ErrorInfo(reason, domain, metadata)


def error_info_of(status_details: bytes | None, domain: str) -> ErrorInfo | None:
    """The first ErrorInfo of `domain` in a serialized google.rpc.Status (field 3: repeated Any), if any."""
    if not status_details:
        return None
    try:
        for number, value in _fields(status_details):
            if number != 3 or not isinstance(value, bytes):
                continue
            any_fields = dict(_fields(value))
            if _text(any_fields.get(1, b"")) != ERROR_INFO_TYPE_URL:
                continue
            payload = any_fields.get(2, b"")
            info = _error_info(payload if isinstance(payload, bytes) else b"")
            if info.domain == domain:
                return info
    except ValueError:
        return None  # a malformed trailer leaves the gRPC status code to speak for itself
    return None
