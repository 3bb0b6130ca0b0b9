"""protocol.py without sockets: framing, validation, every rejection, any chunking."""

from __future__ import annotations

import dataclasses
import json
import struct
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol
from guessnet.wire import codec
from protocol import FrameDecoder, RemoteProtocolError


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def decode_all(data: bytes, accepted: frozenset[str] | None = None) -> list[protocol.Message]:
    decoder = FrameDecoder(accepted)
    decoder.receive_data(data)
    out = []
    while (msg := decoder.next_message()) is not None:
        out.append(msg)
    return out


SAMPLES: list[protocol.Message] = [
    protocol.Hello(version=1, client="pclient"),
    protocol.Guess(value=7),
    protocol.Play(mode="multi", room="main"),
    protocol.Play(mode="single"),
    protocol.RoundEnded(mode="multi", room="main", round=3, outcome="won", winner="ann",
                        secret=4, game_id=None),
    protocol.Table(title="t", columns=("a", "b"), rows=((1, "x"), (None, 2.5), (True, "é"))),
    protocol.Chat(sender="bob", text="héllo \u2603", room="lobby"),
    protocol.AdminEvent(kind="connected", at="2026-11-21 10:00:00", text="x", peer="1.2.3.4:5"),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip_one_byte_at_a_time(msg: protocol.Message) -> None:
    data = protocol.encode(msg) * 2
    decoder = FrameDecoder()
    got = []
    for byte in data:
        decoder.receive_data(bytes([byte]))
        while (m := decoder.next_message()) is not None:
            got.append(m)
    assert got == [msg, msg]
    assert decoder.buffered == 0


def test_frame_is_length_prefixed_json() -> None:
    data = protocol.encode(protocol.Guess(value=5))
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert json.loads(data[4:]) == {"type": "guess", "value": 5}


@pytest.mark.parametrize("length", [0, 4097, 2**32 - 1])
def test_bad_length_rejected_before_body(length: int) -> None:
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">I", length))  # no body at all: rejected on the header
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_message()
    assert info.value.code == "bad_length"
    assert info.value.fatal
    assert decoder.buffered == 0


def test_max_payload_accepted() -> None:
    body = {"type": "say", "text": ""}
    body["text"] = "x" * (4096 - len(json.dumps(body, separators=(",", ":"))))
    payload = json.dumps(body, separators=(",", ":")).encode()
    assert len(payload) == 4096
    with pytest.raises(RemoteProtocolError) as info:  # 4096 > text limit, but framing is fine
        decode_all(frame(payload))
    assert info.value.code == "bad_field" and not info.value.fatal


def test_encode_refuses_oversize() -> None:
    with pytest.raises(protocol.LocalProtocolError):
        protocol.encode(protocol.Table(title="t", columns=("a",), rows=(("x" * 5000,),)))


@pytest.mark.parametrize("payload, code", [
    (b'{"type":"guess","value":NaN}', "bad_json"),
    (b'{"type":"guess","value":Infinity}', "bad_json"),
    (b'{"type":"guess","value":-Infinity}', "bad_json"),
    (b'{"type":"guess","value":1e309}', "bad_json"),
    (b'{"type":"guess","value":1.5}', "bad_field"),
    (b'{"type":"guess","value":true}', "bad_field"),
    (b'{"type":"guess","value":"5"}', "bad_field"),
    (b'{"type":"guess","value":18446744073709551616}', "bad_field"),
    (b'{"type":"guess","value":1' + b"0" * 30 + b"}", "bad_json"),
    (b'{"type":"guess"}', "bad_field"),
    (b'{"type":"guess","value":1,"extra":2}', "bad_field"),
    (b'[1,2,3]', "not_object"),
    (b'"hello"', "not_object"),
    (b'42', "not_object"),
    (b'null', "not_object"),
    (b'{"value":1}', "missing_type"),
    (b'{"type":7}', "missing_type"),
    (b'{"type":"launch_missiles"}', "unknown_type"),
    (b'{"type":"table","title":"x","columns":[],"rows":[]}', "unknown_type"),  # server-only
    (b'{"type":"kick","target":"bob"}', "unknown_type"),  # admin-only on the player port
    (b'\xff\xfe{"type":"quit"}', "bad_utf8"),
    (b'{"type":"quit"', "bad_json"),
    (b"[" * 3000 + b"]" * 3000, "bad_json"),
    (b'{"type":"name","name":' + json.dumps("x" * 200).encode() + b"}", "bad_field"),
    (b'{"type":"play","mode":"single","room":5}', "bad_field"),
])
def test_rejections(payload: bytes, code: str) -> None:
    if len(payload) > protocol.MAX_PAYLOAD:
        payload = payload[:protocol.MAX_PAYLOAD]
    with pytest.raises(RemoteProtocolError) as info:
        decode_all(frame(payload), protocol.PLAYER_TO_SERVER)
    assert info.value.code == code
    assert not info.value.fatal
    reply = info.value.reply()
    assert reply.code == code and reply.message


def test_deep_nesting_within_limit() -> None:
    payload = b"[" * 2048 + b"]" * 2048
    with pytest.raises(RemoteProtocolError) as info:
        decode_all(frame(payload))
    assert info.value.code in ("bad_json", "not_object")


def test_bad_payload_does_not_lose_framing() -> None:
    data = frame(b"not json") + protocol.encode(protocol.Guess(value=3))
    decoder = FrameDecoder(protocol.PLAYER_TO_SERVER)
    decoder.receive_data(data)
    with pytest.raises(RemoteProtocolError):
        decoder.next_message()
    assert decoder.next_message() == protocol.Guess(value=3)


def test_fatal_error_sticks() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">I", 10**6) + protocol.encode(protocol.Quit()))
    for _ in range(2):
        with pytest.raises(RemoteProtocolError):
            decoder.next_message()


def test_partial_frame_waits() -> None:
    data = protocol.encode(protocol.Guess(value=3))
    decoder = FrameDecoder()
    decoder.receive_data(data[:-1])
    assert decoder.next_message() is None
    assert decoder.buffered == len(data) - 1
    decoder.receive_data(data[-1:])
    assert decoder.next_message() == protocol.Guess(value=3)


def test_direction_sets_are_disjoint_where_it_matters() -> None:
    assert "kick" not in protocol.PLAYER_TO_SERVER
    assert "list" not in protocol.PLAYER_TO_SERVER
    assert "guess" not in protocol.ADMIN_TO_SERVER
    assert "event" not in protocol.SERVER_TO_PLAYER


# --------------------------------------------------------------------- property tests

@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_yield_messages_or_protocol_error(data: bytes) -> None:
    decoder = FrameDecoder(protocol.PLAYER_TO_SERVER)
    decoder.receive_data(data)
    for _ in range(100):
        try:
            msg = decoder.next_message()
        except RemoteProtocolError as exc:
            if exc.fatal:
                return
            continue
        if msg is None:
            return
        assert msg.TYPE in protocol.PLAYER_TO_SERVER


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                         st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(protocol.REGISTRY)), st.dictionaries(
    st.sampled_from(["value", "name", "text", "mode", "room", "version", "nonce", "to", "limit",
                     "game_id", "password", "old", "new", "client", "x"]), json_values,
    max_size=4))
def test_arbitrary_objects_validate_or_reject(wire_type: str, body: dict[str, object]) -> None:
    payload = json.dumps({"type": wire_type, **body}).encode()
    try:
        msgs = decode_all(frame(payload[:4096]))
    except RemoteProtocolError as exc:
        assert exc.code in ("bad_field", "bad_json", "unknown_type")
        return
    assert msgs[0].TYPE == wire_type
    assert decode_all(protocol.encode(msgs[0])) == msgs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=8), st.data())
def test_round_trip_under_any_chunking(msgs: list[protocol.Message], data: st.DataObject) -> None:
    stream = b"".join(protocol.encode(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    decoder = FrameDecoder()
    got = []
    start = 0
    for cut in [*cuts, len(stream)]:
        decoder.receive_data(stream[start:cut])
        start = max(start, cut)
        while (m := decoder.next_message()) is not None:
            got.append(m)
    assert got == msgs


@pytest.mark.parametrize("payload", [
    b'{"type":"round_ended","mode":"multi","room":"r","round":1,"outcome":"maybe",'
    b'"winner":null,"secret":3}',
    b'{"type":"hint","value":3,"result":"warm","tries_used":1,"tries_left":4}',
    b'{"type":"room_update","room":"r","name":"ann","event":"exploded"}',
    b'{"type":"board","match_id":1,"x":"a","o":"b","board":"         ","turn":null,'
    b'"you":"Z"}',
    b'{"type":"left_game","mode":7}',
])
def test_fields_with_a_fixed_set_of_values_refuse_others(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="must be one of") as info:
        decode_all(frame(payload), protocol.SERVER_TO_PLAYER)
    assert info.value.code == "bad_field"


def test_messages_built_fast_are_still_frozen_dataclasses() -> None:
    started = protocol.RoundStarted(mode="single", room=None, round=1, low=1, high=100,
                                    tries=5, tries_used=0)
    assert (started.time_limit, started.time_left, started.paused) == (None, None, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        started.round = 2  # type: ignore[misc]
    assert dataclasses.replace(started, round=2).round == 2
    assert started == protocol.RoundStarted("single", None, 1, 1, 100, 5, 0)
    assert hash(started) == hash(protocol.RoundStarted("single", None, 1, 1, 100, 5, 0))
    with pytest.raises(TypeError):
        protocol.Hint(value=1)  # type: ignore[call-arg]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=30)
    | st.sampled_from(["single", "multi", "\ud800", "x" * 3001, "high", "low"]),
    lambda inner: st.lists(inner, max_size=3), max_leaves=5)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, pick=st.integers(0, 10_000))
def test_each_fields_fast_check_agrees_with_the_full_one(value: object, pick: int) -> None:
    """The checkers decided once a field (int, str, a choice, X | None) accept, convert and
    refuse exactly as the full check does, with the same words."""
    specs = [(cls, f) for cls in protocol.REGISTRY.values()
             for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    cls, f = specs[pick % len(specs)]
    hint = typing.get_type_hints(cls)[f.name]

    def outcome(check: typing.Callable[[object], object]) -> object:
        try:
            return ("ok", check(value))
        except ValueError as exc:
            return ("refused", str(exc))
    fast = outcome(codec._checker(f.name, hint, f.metadata))
    full = outcome(lambda v: codec._check_value(f.name, hint, v, f.metadata))
    assert fast == full


def decoded_by_the_field_loop(cls: type[protocol.Message], obj: dict[str, object]) -> object:
    """What the generated decoders replaced: each field in order through the full check."""
    hints = typing.get_type_hints(cls)
    values = {}
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    for f in fields:
        if f.name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RemoteProtocolError("bad_field", f"'{cls.TYPE}' needs the field '{f.name}'")
            continue
        try:
            values[f.name] = codec._check_value(f.name, hints[f.name], obj[f.name], f.metadata)
        except ValueError as exc:
            raise RemoteProtocolError("bad_field", f"'{cls.TYPE}': {exc}") from None
    extra = set(obj) - {"type", *(f.name for f in fields)}
    if extra:
        raise RemoteProtocolError("bad_field", f"'{cls.TYPE}' has no field "
                                  f"{sorted(extra)[0][:40]!r}")
    return cls(**values)


FIELD_VALUES = JSON_VALUES | st.integers(-3, 12) | st.sampled_from(
    ["ann", "main", "correct", "joined", "X", " " * 9, ["a", "b"], [["a", 1]]])


@settings(max_examples=500, deadline=None)
@given(pick=st.integers(0, 10_000), data=st.data())
def test_each_types_decoder_agrees_with_the_field_loop(pick: int, data: st.DataObject) -> None:
    """The decoder compiled for each message type accepts, builds and refuses exactly as
    checking its fields one by one does, with the same error and words."""
    types = sorted(protocol.REGISTRY.values(), key=lambda cls: cls.TYPE)
    cls = types[pick % len(types)]
    obj: dict[str, object] = {"type": cls.TYPE}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if data.draw(st.integers(0, 9)):  # most fields present
            obj[f.name] = data.draw(FIELD_VALUES)
    if not data.draw(st.integers(0, 5)):
        obj[data.draw(st.sampled_from(["extra", "zz", "a" * 50]))] = 1

    def outcome(decode: typing.Callable[[], object]) -> object:
        try:
            return ("ok", decode())
        except RemoteProtocolError as exc:
            return ("refused", exc.code, str(exc))
    assert outcome(lambda: codec.from_dict(obj)) == \
        outcome(lambda: decoded_by_the_field_loop(cls, obj))


JSONISH = st.one_of(
    st.text(max_size=40),
    st.builds(lambda v, pre, post: pre + json.dumps(v) + post,
              st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=6),
              st.sampled_from(["", " ", "\n", "x", "{"]), st.sampled_from(["", " ", "\t", "]",
                                                                            "{}", "1"])))


@settings(max_examples=400, deadline=None)
@given(text=JSONISH)
def test_the_one_call_json_parse_agrees_with_the_decoder(text: str) -> None:
    """A frame's JSON is parsed in one C call when nothing surrounds its value; whatever the
    text, the result (or the error and its words) is the full decoder's."""
    def outcome(parse: typing.Callable[[str], object]) -> object:
        try:
            return ("ok", parse(text))
        except ValueError as exc:
            return ("refused", type(exc), str(exc))
    assert outcome(codec._loads) == outcome(codec._DECODER.decode)


def _parsed(parse: typing.Callable[[bytes], object], payload: bytes) -> object:
    try:
        return ("ok", parse(payload))
    except RemoteProtocolError as exc:
        return ("refused", exc.code, str(exc), exc.fatal)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=80), JSONISH.map(lambda text: text.encode("utf-8")),
                 st.sampled_from(sorted(protocol.REGISTRY)).map(
                     lambda kind: json.dumps({"type": kind}).encode()),
                 st.integers().map(lambda n: b'{"type":"guess","value":%d}' % n)))
def test_a_connections_parser_agrees_with_parse_payload(payload: bytes) -> None:
    """The parser a connection uses (one table of its side's decoders) builds the same
    message, or refuses with the same code and words, as ``parse_payload``."""
    for accepted in (protocol.PLAYER_TO_SERVER, protocol.ADMIN_TO_SERVER, None):
        parser = codec.payload_parser(accepted)
        assert codec.payload_parser(accepted) is parser  # built once a side
        assert _parsed(parser, payload) == _parsed(
            lambda data: codec.parse_payload(data, accepted), payload)  # noqa: B023
