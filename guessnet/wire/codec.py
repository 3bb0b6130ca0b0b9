"""guessnet wire protocol: length-prefixed JSON frames carrying typed messages.

Theory of operation
-------------------
A frame is a 4-byte big-endian unsigned payload length followed by that many bytes of UTF-8 JSON.
The payload is one JSON object with a string ``type`` and the fields of that message type; it is
at most ``MAX_PAYLOAD`` (4096) bytes.  This module never touches a socket: a ``FrameDecoder`` is
fed whatever bytes arrived (``receive_data``) and hands back typed, validated messages
(``next_message``); ``encode`` turns a message into the bytes of one frame.

Every message type is a frozen dataclass registered under its wire ``type`` (declared in
``messages``, and re-exported here: callers use ``protocol.Hello``).  Its annotations are the
schema: ``int`` (JSON integers only, booleans refused, |n| <= 2**53), ``float`` (finite),
``str`` (bounded length), ``bool``, ``Literal[...]`` (one of a fixed set), ``X | None``
(optional), ``tuple[str, ...]`` and table rows.
Decoders are built for one side of one port (``PLAYER_TO_SERVER`` and so on), so a message type
that side may not send is as unknown as a made-up one.

Errors are named by who is to blame: ``RemoteProtocolError`` when the peer sent something bad
(it carries the ``Error`` reply to send and whether the byte stream can still be trusted),
``LocalProtocolError`` when our own code tried to send something unencodable.
"""

from __future__ import annotations

import json
import json.scanner
import math
import re
import struct
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, Final, Literal, Union

from guessnet.wire.jsontext import compact_encoder
from guessnet.wire.schema import (
    REGISTRY,
    TEXT_MAX,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    Scalar,
)

__all__ = ["HEADER", "MAX_INT", "MAX_PAYLOAD", "FrameDecoder", "encode", "encode_built",
           "from_dict", "parse_payload", "payload_of", "payload_parser"]

MAX_PAYLOAD: Final = 4096
HEADER: Final = struct.Struct(">I")
_HEADER_SIZE: Final = HEADER.size
_unpack_header: Final = HEADER.unpack_from
MAX_INT: Final = 2**53
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------- validation

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is not finite")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key appears twice (which one wins is not guessed)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [key for key, _ in pairs]
        twice = next(key for i, key in enumerate(keys) if key in keys[:i])
        raise ValueError(f"the key {twice[:40]!r} appears twice")
    return obj


def _bounded_int(text: str) -> int:
    if len(text) > 20:
        raise ValueError("integer has too many digits")
    return int(text)


# Built once: json.loads/json.dumps with options build a new decoder/encoder on every call.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float,
                                   parse_int=_bounded_int, object_pairs_hook=_unique_keys)
# Its C scanner, with its options (typeshed types make_scanner's argument wrongly).
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = \
    json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]


def _loads(text: str) -> Any:
    """``_DECODER.decode(text)``, in one C call for a frame with no whitespace around its
    value (what clients send): ``decode`` looks for whitespace with two regular expression
    matches first, and it is two Python calls more, at every frame received.  Anything else
    (whitespace around it, not JSON) goes through ``decode``, which also words the error."""
    try:
        obj, end = _SCAN(text, 0)
    except StopIteration:  # no value at 0: whitespace first, or none at all
        return _DECODER.decode(text)
    return obj if end == len(text) else _DECODER.decode(text)


_ENCODE: Final = compact_encoder(ensure_ascii=False)


def _check_value(name: str, hint: Any, value: Any, meta: typing.Mapping[str, Any]) -> Any:
    """Return ``value`` converted to the field's Python type, or raise ``ValueError``."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"field '{name}' must be one of {', '.join(allowed)}")
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        if hint is Scalar or set(options) == {str, int, float, bool, type(None)}:
            if isinstance(value, (str, int, float, bool)):
                return _check_value(name, type(value), value, meta)
            raise ValueError(f"field '{name}' must be a plain value")
        inner = [o for o in options if o is not type(None)]
        return _check_value(name, inner[0], value, meta)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"field '{name}' must be a list")
        item_hint = typing.get_args(hint)[0]
        return tuple(_check_value(name, item_hint, v, {}) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"field '{name}' must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field '{name}' must be an integer")
        low, high = meta.get("min", -MAX_INT), meta.get("max", MAX_INT)
        if not low <= value <= high:
            raise ValueError(f"field '{name}' must be between {low} and {high}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"field '{name}' must be a number")
        if not math.isfinite(value):
            raise ValueError(f"field '{name}' must be finite")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"field '{name}' must be a string")
        if len(value) > meta.get("max_len", TEXT_MAX):
            raise ValueError(f"field '{name}' is longer than {meta.get('max_len', TEXT_MAX)}")
        if _SURROGATE.search(value):
            raise ValueError(f"field '{name}' holds a lone surrogate (\\ud800-\\udfff): "
                             "send Unicode text")
        return value
    raise LocalProtocolError(f"unsupported field type {hint!r} for '{name}'")


def _checker(name: str, hint: Any, meta: typing.Mapping[str, Any]) -> Callable[[Any], Any]:
    """``_check_value`` for one field, with the common plain types decided once."""
    if hint is int:
        low, high = meta.get("min", -MAX_INT), meta.get("max", MAX_INT)

        def check_int(value: Any) -> Any:
            if type(value) is int and low <= value <= high:
                return value
            return _check_value(name, hint, value, meta)  # raises, saying why
        return check_int
    if hint is str:
        longest = meta.get("max_len", TEXT_MAX)

        def check_str(value: Any) -> Any:
            if type(value) is str and len(value) <= longest and not _SURROGATE.search(value):
                return value
            return _check_value(name, hint, value, meta)  # raises, saying why
        return check_str
    if typing.get_origin(hint) is Literal:
        allowed = frozenset(typing.get_args(hint))

        def check_choice(value: Any) -> Any:
            if type(value) is str and value in allowed:
                return value
            return _check_value(name, hint, value, meta)  # raises, saying why
        return check_choice
    options = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType) and len(options) == 2 and \
            type(None) in options:  # X | None, X not a union itself
        inner = _checker(name, next(o for o in options if o is not type(None)), meta)
        return lambda value: None if value is None else inner(value)
    return lambda value: _check_value(name, hint, value, meta)


def from_dict(obj: Any, accepted: frozenset[str] | None = None) -> Message:
    """Validate a decoded JSON value and build its message, or raise ``RemoteProtocolError``."""
    if not isinstance(obj, dict):
        raise RemoteProtocolError("not_object", "a frame must hold a JSON object")
    wire_type = obj.get("type")
    if not isinstance(wire_type, str):
        raise RemoteProtocolError("missing_type", "the object has no string 'type' field")
    cls = REGISTRY.get(wire_type)
    if cls is None or (accepted is not None and wire_type not in accepted):
        raise RemoteProtocolError("unknown_type", f"unknown message type {wire_type[:40]!r}")
    return (_DECODERS.get(cls) or _decoder(cls))(obj)


_DECODERS: dict[type[Message], Callable[[dict[str, Any]], Message]] = {}


def _decoder(cls: type[Message]) -> Callable[[dict[str, Any]], Message]:
    """``cls``'s decoder, from a dict whose ``type`` names ``cls``: every field checked in
    order (a required one missing, or a value refused, raises), then any key ``cls`` has not,
    then the message built.  Written out one field after another and compiled once a type,
    as ``dataclasses`` writes ``__init__``: a loop over the fields, a dict of values and
    ``cls(**values)`` cost about three times the bytecodes, at every frame received."""
    hints = typing.get_type_hints(cls)
    declared = fields(cls)  # type: ignore[arg-type]
    known = frozenset(["type", *(f.name for f in declared)])
    wire_type = cls.TYPE

    def missing(name: str) -> RemoteProtocolError:
        return RemoteProtocolError("bad_field", f"'{wire_type}' needs the field '{name}'")

    def refused(exc: ValueError) -> RemoteProtocolError:
        return RemoteProtocolError("bad_field", f"'{wire_type}': {exc}")

    def extra(obj: dict[str, Any]) -> RemoteProtocolError:
        unknown = sorted(set(obj) - known)[0]
        return RemoteProtocolError("bad_field", f"'{wire_type}' has no field {unknown[:40]!r}")

    namespace: dict[str, Any] = {"_cls": cls, "_missing": missing, "_refused": refused,
                                 "_extra": extra}
    body, args = ["    n = 1", "    try:"], []
    for i, f in enumerate(declared):
        name = f.name
        namespace[f"_check{i}"] = _checker(name, hints[name], f.metadata)
        body += [f"        if {name!r} in obj:", f"            v{i} = _check{i}(obj[{name!r}])",
                 "            n += 1", "        else:"]
        if f.default is not MISSING:
            namespace[f"_default{i}"] = f.default
            body.append(f"            v{i} = _default{i}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory{i}"] = f.default_factory
            body.append(f"            v{i} = _factory{i}()")
        else:  # required
            body.append(f"            raise _missing({name!r})")
        args.append(f"{name}=v{i}")
    body += ["        pass",  # (a message with no fields)
             "    except ValueError as exc:", "        raise _refused(exc) from None",
             "    if len(obj) > n:", "        raise _extra(obj)",
             f"    return _cls({', '.join(args)})"]
    exec("def decode(obj):\n" + "\n".join(body) + "\n", namespace)  # noqa: S102
    decode: Callable[[dict[str, Any]], Message] = namespace["decode"]  # (checked field names)
    _DECODERS[cls] = decode
    return decode


def parse_payload(payload: bytes, accepted: frozenset[str] | None = None) -> Message:
    """Turn one frame's payload into a message, or raise ``RemoteProtocolError``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("bad_utf8", "the frame is not valid UTF-8") from None
    try:
        obj = _loads(text)
    except RecursionError:
        raise RemoteProtocolError("bad_json", "the JSON is nested too deeply") from None
    except ValueError as exc:
        raise RemoteProtocolError("bad_json", f"the frame is not valid JSON: {exc}") from None
    return from_dict(obj, accepted)


_PARSERS: dict[frozenset[str] | None, Callable[[bytes], Message]] = {}


def payload_parser(accepted: frozenset[str] | None = None) -> Callable[[bytes], Message]:
    """``parse_payload`` for one side of one port, as one function: a frame of a type that
    side may send goes from its bytes to its message through a table of that side's
    decoders, in one Python call beside the decoder's own (``parse_payload`` is three, and a
    connection parses every frame it receives).  Anything else goes through
    ``parse_payload``, which refuses it in the same words."""
    parser = _PARSERS.get(accepted)
    if parser is not None:
        return parser
    names = REGISTRY.keys() if accepted is None else accepted.intersection(REGISTRY)
    table = {name: _DECODERS.get(REGISTRY[name]) or _decoder(REGISTRY[name])
             for name in names}
    scan = _SCAN

    def parse(payload: bytes) -> Message:
        try:
            text = payload.decode("utf-8")
            obj, end = scan(text, 0)
        except (ValueError, RecursionError, StopIteration):  # (and UnicodeDecodeError)
            return parse_payload(payload, accepted)  # which says what is wrong
        if end == len(text) and type(obj) is dict:
            wire_type = obj.get("type")
            if type(wire_type) is str:
                decode = table.get(wire_type)
                if decode is not None:
                    return decode(obj)
        return parse_payload(payload, accepted)  # whitespace around it, or refused

    _PARSERS[accepted] = parse
    return parse


# --------------------------------------------------------------------------- framing

def payload_of(msg: Message | dict[str, Any]) -> bytes:
    """The JSON payload of ``msg`` or of a message dict already built and validated (no
    header, no size check): for measuring before splitting, or relaying a bus payload."""
    body = msg if isinstance(msg, dict) else msg.to_dict()
    return _ENCODE(body).encode("utf-8")


def encode_built(payload: dict[str, Any]) -> bytes:
    """The frame of a message dict built and validated already (a room's broadcast relayed
    from the bus): no check again, one encoding for every member it goes to."""
    body = payload_of(payload)
    return HEADER.pack(len(body)) + body


def encode(msg: Message) -> bytes:
    """Return the bytes of one frame carrying ``msg``.

    Raises ``LocalProtocolError`` when the message would exceed ``MAX_PAYLOAD``: the caller
    must split it (see ``Table``) or refuse it before sending.
    """
    payload = _ENCODE(msg.to_dict()).encode("utf-8")
    if len(payload) > MAX_PAYLOAD:
        raise LocalProtocolError(
            f"'{msg.TYPE}' message is {len(payload)} bytes, over the {MAX_PAYLOAD} limit")
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Incremental frame decoder: ``receive_data`` bytes, then drain ``next_message``.

    A length prefix of 0 or over ``max_payload`` raises a fatal ``RemoteProtocolError`` as soon
    as the 4 header bytes are in, before any of the body is buffered.  A bad payload raises a
    non-fatal one: that frame is consumed and decoding can go on with the next.
    """

    def __init__(self, accepted: frozenset[str] | None = None,
                 max_payload: int = MAX_PAYLOAD) -> None:
        # the bytes received and not yet handed out: one bytearray for the decoder's life,
        # which a caller may hold and test (empty: no frame begun) but never change
        self.buffer = bytearray()
        self.parse = payload_parser(accepted)  # a payload of this side to its message
        self._max = max_payload
        self._broken: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes of a frame received but not yet complete (0 between frames)."""
        return len(self.buffer)

    def receive_data(self, data: bytes) -> None:
        self.buffer += data

    def next_payload(self) -> bytes | None:
        """The next complete payload, or None when more bytes are needed."""
        if self._broken is not None:
            raise self._broken
        buffer = self.buffer
        if len(buffer) < _HEADER_SIZE:
            return None
        (length,) = _unpack_header(buffer)
        if length == 0 or length > self._max:
            what = "empty" if length == 0 else f"{length} bytes, over the {self._max} limit"
            self._broken = RemoteProtocolError("bad_length", f"frame length is {what}",
                                               fatal=True, seen=bytes(buffer[:4]))
            buffer.clear()
            raise self._broken
        end = _HEADER_SIZE + length
        if len(buffer) < end:
            return None
        payload = bytes(buffer[_HEADER_SIZE:end])
        del buffer[:end]
        return payload

    def next_message(self) -> Message | None:
        """The next complete message, None when more bytes are needed."""
        payload = self.next_payload()
        if payload is None:
            return None
        return self.parse(payload)
