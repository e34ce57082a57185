"""Protocol Buffers wire format: reading tagged fields and turning messages into JSON shapes.

A message's schema maps field numbers to ``Field``s (see ``kubesim.protobuf.schema``); the
decoder walks the bytes once, converting each field to its JSON form as the API server's
JSON serializer writes it (int64 as numbers, bytes as base64, Time as RFC 3339, Quantity and
IntOrString as their short forms). Fields a schema does not list are skipped.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class DecodeError(ValueError):
    """The bytes are not a valid protobuf message of the expected shape."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field: its JSON name, type code, whether repeated, inlined, or kept when zero.

    ``inline`` fields are Go embedded structs: their members appear in the parent's JSON.
    Go writes every non-pointer field, zero or not, and its JSON leaves zero ones out
    (``omitempty``); so a singular zero value is dropped unless ``keep_zero`` marks a
    pointer field, whose zero (``replicas: 0``, ``enableServiceLinks: false``) was set.
    """

    name: str
    type: str
    repeated: bool = False
    inline: bool = False
    keep_zero: bool = False


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Return (value, next position) of the base-128 varint at ``pos``."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 10 bytes")


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, raw value) for each field of a message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == LENGTH:
            size, pos = read_varint(buf, pos)
            if pos + size > end:
                raise DecodeError("truncated length-delimited field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == FIXED64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == FIXED32:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        yield number, wire, value


def signed(value: int) -> int:
    """Return a varint as the signed 64-bit integer it encodes (negative int32s too)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise DecodeError("expected a length-delimited string")
    return value.decode("utf-8")


def _time(value: bytes) -> str:
    """Return a Time as RFC 3339; the empty message (Go's zero time) as "" (dropped)."""
    seconds = 0
    for number, _, raw in fields(value):
        if number == 1:
            seconds = signed(raw)
    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(value: bytes) -> str:
    return next((_text(raw) for number, _, raw in fields(value) if number == 1), "0")


def _int_or_string(value: bytes) -> int | str:
    kind, number_value, text = 0, 0, ""
    for number, _, raw in fields(value):
        if number == 1:
            kind = raw
        elif number == 2:
            number_value = signed(raw)
        elif number == 3:
            text = _text(raw)
    return text if kind == 1 else number_value


def _raw_json(value: bytes) -> Any:
    raw = next((r for number, _, r in fields(value) if number == 1), b"")
    return orjson.loads(raw) if raw else None


SCALARS: dict[str, Callable[[Any], Any]] = {
    "s": _text,
    "b": lambda v: bool(v),
    "i": signed,
    "y": lambda v: base64.b64encode(v).decode(),
    "t": _time,
    "q": _quantity,
    "n": _int_or_string,
    "r": _raw_json,
}
_ZEROS = ("", 0)  # False == 0, so this covers bools too
# Map value types: "m" string → string, "mb" string → bytes, "mq" string → Quantity.
MAPS = {"m": "s", "mb": "y", "mq": "q"}


class Decoder:
    """Turns messages into JSON shapes using a table of message schemas."""

    def __init__(self, schemas: dict[str, dict[int, Field]]) -> None:
        self.schemas = schemas

    def message(self, name: str, buf: bytes) -> dict[str, Any]:
        """Return the JSON object for ``buf`` decoded as message ``name``."""
        schema = self.schemas.get(name)
        if schema is None:
            raise DecodeError(f"no schema for message {name}")
        out: dict[str, Any] = {}
        for number, _, raw in fields(buf):
            spec = schema.get(number)
            if spec is None:
                continue  # a field this simulator does not model
            self._put(out, spec, raw)
        return out

    def _put(self, out: dict[str, Any], spec: Field, raw: Any) -> None:
        if spec.type in MAPS:
            key, value = self._entry(raw, MAPS[spec.type])
            out.setdefault(spec.name, {})[key] = value
            return
        value = self._value(spec.type, raw)
        if spec.inline:
            out.update(value)
        elif spec.repeated:
            out.setdefault(spec.name, []).append(value)
        elif spec.keep_zero or value not in _ZEROS or isinstance(value, dict):
            out[spec.name] = value

    def _value(self, type_code: str, raw: Any) -> Any:
        convert = SCALARS.get(type_code)
        if convert is not None:
            return convert(raw)
        return self.message(type_code, raw)

    def _entry(self, raw: bytes, value_type: str) -> tuple[str, Any]:
        key, value = "", self._value(value_type, b"") if value_type == "y" else ""
        for number, _, item in fields(raw):
            if number == 1:
                key = _text(item)
            elif number == 2:
                value = self._value(value_type, item)
        return key, value
