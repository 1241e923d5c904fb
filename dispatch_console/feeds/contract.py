"""The HTTP message bodies of the feed contract (``docs/feed-contract.md``), as typed structs.

Decoding a body with these is the validation: wrong types, unknown kinds, missing fields, NaN or
out-of-range coordinates all fail with a message that names the JSON path.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal, TypeVar

import msgspec

from dispatch_console.domain.events import AlertType, Attire, Duty

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Short = Annotated[str, msgspec.Meta(max_length=200)]
Time = Annotated[str, msgspec.Meta(min_length=10, max_length=40)]


class Person(msgspec.Struct, forbid_unknown_fields=True):
    name: Short | None = None
    role: Short | None = None


class Activation(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    school_id: Id
    type: AlertType
    activated_at: Time
    activated_by: Person | None = None
    location_detail: Text | None = None
    message: Text | None = None
    notified_device_ids: list[Id] | None = None
    #: A drill (simulator, training): opens an exercise incident, kept apart from live ones.
    exercise: bool = False


class Notified(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    device_ids: Annotated[list[Id], msgspec.Meta(max_length=5000)]


class _Message(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True):
    id: Id
    at: Time


class Profile(_Message, tag="profile"):
    name: Short | None = None
    agency: Short | None = None
    badge: Short | None = None
    duty: Duty | None = None
    has_radio: bool | None = None
    attire: Attire | None = None
    callsign: Short | None = None


class Ack(_Message, tag="ack"):
    incident_id: Id
    responding: bool


Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]


class Position(_Message, tag="position"):
    lat: Latitude
    lon: Longitude
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None
    speed_mps: Annotated[float, msgspec.Meta(ge=0, le=150)] | None = None
    heading_deg: Annotated[float, msgspec.Meta(ge=0, le=360)] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and math.isfinite(self.lon)):
            raise ValueError("lat and lon must be finite numbers")
        if not -90 <= self.lat <= 90:
            raise ValueError(f"lat {self.lat} is outside -90..90")
        if not -180 <= self.lon <= 180:
            raise ValueError(f"lon {self.lon} is outside -180..180")


class Status(_Message, tag="status"):
    incident_id: Id
    status: Literal["en_route", "on_scene", "at_staging", "unavailable"]
    staging_area_id: Id | None = None


class DirectiveAck(_Message, tag="directive_ack"):
    directive_id: Id


DeviceMessage = Profile | Ack | Position | Status | DirectiveAck


class DeviceMessages(msgspec.Struct, forbid_unknown_fields=True):
    messages: Annotated[list[DeviceMessage], msgspec.Meta(min_length=1, max_length=500)]


class BodyError(Exception):
    """A body that does not meet the contract: ``error`` says what, ``field`` where."""

    def __init__(self, error: str, field: str) -> None:
        super().__init__(error)
        self.error = error
        self.field = field


T = TypeVar("T")

_PATH = re.compile(r" - at `([^`]*)`$")


def decode_body(body: bytes, kind: type[T]) -> T:
    """Decode ``body`` as ``kind`` or raise :class:`BodyError` with the JSON path."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        if match is None:
            raise BodyError(message, "$") from None
        raise BodyError(message[: match.start()], match.group(1)) from None
    except msgspec.DecodeError as exc:
        raise BodyError(f"not valid JSON: {exc}", "$") from None
