"""Cursor-on-Target: parse (XML and TAK protobuf), split a TCP stream, build outbound events.

Pure functions and one small stateful splitter: no sockets, threads, Qt or database here. The
listeners feed received bytes to :class:`CotStreamSplitter` (TCP) or straight to
:func:`parse_message` (one UDP datagram), store what is accepted and log every
:class:`CotRejected` reason.
"""

from __future__ import annotations

from dispatch_console.feeds.cot.build import (
    build_alert_cancel,
    build_alert_marker,
    build_chat,
    build_staging_circle,
    build_staging_marker,
    build_staging_polygon,
)
from dispatch_console.feeds.cot.parse import (
    DEFAULT_MAX_BYTES,
    CotChat,
    CotEmergency,
    CotEndpoint,
    CotEvent,
    CotLink,
    CotRejected,
    CotTakv,
    is_chat,
    is_emergency,
    is_emergency_cancel,
    is_friendly_ground,
    is_position_report,
    parse_cot,
)
from dispatch_console.feeds.cot.proto import parse_message, parse_tak_protobuf, takproto_available
from dispatch_console.feeds.cot.stream import DEFAULT_STREAM_CAP, CotStreamSplitter

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_STREAM_CAP",
    "CotChat",
    "CotEmergency",
    "CotEndpoint",
    "CotEvent",
    "CotLink",
    "CotRejected",
    "CotStreamSplitter",
    "CotTakv",
    "build_alert_cancel",
    "build_alert_marker",
    "build_chat",
    "build_staging_circle",
    "build_staging_marker",
    "build_staging_polygon",
    "is_chat",
    "is_emergency",
    "is_emergency_cancel",
    "is_friendly_ground",
    "is_position_report",
    "parse_cot",
    "parse_message",
    "parse_tak_protobuf",
    "takproto_available",
]
