"""The ground every message type stands on: the base class, the registry, and the errors.

A message type is declared as ``class Hello(Message, wire="hello")`` (in
``guessnet.wire.messages``): a frozen dataclass whose annotations are its schema, registered
under its wire ``type``.  The errors live here too, named by who is to blame: a
``RemoteProtocolError`` (the peer's) carries the ``Error`` message to answer with.
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Final

__all__ = ["NAME_MAX", "PROTOCOL_VERSION", "REGISTRY", "TEXT_MAX", "Error", "LocalProtocolError",
           "Message", "ProtocolError", "RemoteProtocolError", "Scalar", "name_field",
           "text_field"]

PROTOCOL_VERSION: Final = 1
NAME_MAX: Final = 20
TEXT_MAX: Final = 3000

Scalar = str | int | float | bool | None


class ProtocolError(Exception):
    """Base class of every error this module raises."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    ``code`` is stable and machine-readable, ``str(self)`` is for humans.  ``fatal`` is true when
    the framing itself is lost (a bad length prefix): the connection must then be closed after
    the reply, because the next frame boundary cannot be found; ``seen`` is then the four bytes
    that were read as the length (``b"HTTP"``: a web server answered).
    """

    def __init__(self, code: str, message: str, *, fatal: bool = False,
                 seen: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.fatal = fatal
        self.seen = seen

    def reply(self) -> Error:
        return Error(code=self.code, message=str(self))


class LocalProtocolError(ProtocolError):
    """Our own code tried to send something the protocol cannot carry (a bug on this side)."""


# --------------------------------------------------------------------------- message types

REGISTRY: dict[str, type[Message]] = {}


@typing.dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Message:
    """Base of all message types: ``class Hello(Message, wire="hello")`` declares a frozen
    dataclass whose annotations are its schema, registered under its wire ``type``."""

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, *, wire: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if wire in REGISTRY:
            raise LocalProtocolError(f"message type {wire!r} is declared twice")
        cls.TYPE = wire
        dataclass(frozen=True)(cls)
        type.__setattr__(cls, "__init__", _init_maker(cls))
        REGISTRY[wire] = cls

    def to_dict(self) -> dict[str, Any]:
        """The message as the JSON object sent on the wire (tuples as lists).  The first call
        for a message type writes that type's own ``to_dict`` and puts it on the class, so
        later calls go straight to it."""
        cls = type(self)
        maker = _dict_maker(cls)
        type.__setattr__(cls, "to_dict", maker)
        return maker(self)


def _init_maker(cls: type[Message]) -> typing.Callable[..., None]:
    """``cls``'s ``__init__``, with the parameters ``dataclasses`` gives it, storing each field
    in the instance's ``__dict__``: a frozen dataclass's own ``__init__`` calls
    ``object.__setattr__`` once a field (to get past its frozen ``__setattr__``), which made a
    four-field message cost three times a plain one to build, and every frame received or sent
    builds one.  The instance stays frozen: ``__setattr__`` and ``__delattr__`` still refuse."""
    params, body = [], ["    _d = self.__dict__"]
    namespace: dict[str, Any] = {"_MISSING": MISSING}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in ("self", "_d") or f.name.startswith(("_default_", "_factory_")):
            raise LocalProtocolError(f"{cls.__name__}: a field may not be called {f.name!r}")
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING: {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"    _d[{f.name!r}] = {f.name}")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102  (our own field names, checked identifiers)
    init: typing.Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _dict_maker(cls: type[Message]) -> typing.Callable[[Message], dict[str, Any]]:
    """``cls``'s ``to_dict``, written out as one dict display (as ``dataclasses`` writes
    ``__init__``): every message sent goes through it, and a loop over the fields with
    ``getattr`` cost three times the calls.  Only the fields whose type may hold a tuple are
    converted (to lists); scalar fields go in as they are."""
    hints = typing.get_type_hints(cls)
    items = [f"'type': {cls.TYPE!r}"]
    for f in fields(cls):  # type: ignore[arg-type]
        hint = str(hints[f.name])
        convert = "tuple" in hint or "Any" in hint or "list" in hint
        value = f"_jsonable(m.{f.name})" if convert else f"m.{f.name}"
        items.append(f"{f.name!r}: {value}")
    source = f"def to_dict(m):\n    return {{{', '.join(items)}}}\n"
    namespace: dict[str, Any] = {"_jsonable": _jsonable}
    exec(source, namespace)  # noqa: S102  (our own field names, checked identifiers)
    maker: typing.Callable[[Message], dict[str, Any]] = namespace["to_dict"]
    return maker


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


name_field: Final = {"max_len": NAME_MAX * 4}  # names are checked by the name rule later
text_field: Final = {"max_len": TEXT_MAX}



class Error(Message, wire="error"):
    """Something the receiver sent was refused; ``code`` is stable, ``message`` is for people."""
    code: str = field(metadata={"max_len": 64})
    message: str = field(metadata=text_field)

