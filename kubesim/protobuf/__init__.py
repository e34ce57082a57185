"""Kubernetes' protobuf encoding of request bodies (``application/vnd.kubernetes.protobuf``).

A body is the four bytes ``k8s\\0`` then a ``runtime.Unknown`` message: the object's
``TypeMeta`` and its raw message bytes. ``decode`` returns the object as its JSON form.
"""

from __future__ import annotations

from typing import Any

from kubesim.errors import ApiError
from kubesim.protobuf.schema import SCHEMAS
from kubesim.protobuf.wire import DecodeError, Decoder, fields

__all__ = ["CONTENT_TYPE", "decode", "is_protobuf"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_DECODER = Decoder(SCHEMAS)


def is_protobuf(content_type: str) -> bool:
    """Return whether a Content-Type header names Kubernetes' protobuf encoding."""
    return content_type.split(";")[0].strip() == CONTENT_TYPE


def decode(raw: bytes) -> dict[str, Any]:
    """Return the JSON form of a protobuf-encoded object.

    Raises 400 BadRequest for bytes that are not an envelope, and 415 UnsupportedMediaType
    for kinds kubesim has no schema for (custom resources are always sent as JSON).
    """
    if not raw.startswith(MAGIC):
        raise _undecodable("missing the k8s protobuf prefix")
    try:
        type_meta: dict[str, Any] = {}
        body = b""
        for number, _, value in fields(raw[len(MAGIC) :]):
            if number == 1:
                type_meta = _DECODER.message("TypeMeta", value)
            elif number == 2:
                body = value
        kind = type_meta.get("kind", "")
        if kind not in SCHEMAS:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the protobuf encoding of kind {kind or '(none)'} is not supported by "
                "kubesim; send it as application/json",
            )
        obj = _DECODER.message(kind, body)
    except (DecodeError, UnicodeDecodeError, ValueError) as exc:
        raise _undecodable(str(exc)) from exc
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


def _undecodable(why: str) -> ApiError:
    return ApiError(400, "BadRequest", f"the body of the request could not be decoded: {why}")
