"""Split a TAK TCP stream into single messages, whatever the chunk boundaries.

TAK clients write CoT events back to back on a TCP stream: each optionally preceded by an XML
declaration, with or without whitespace between them; after protocol negotiation, TAK protocol
version 1 frames (``0xbf``, varint length, protobuf) instead. :class:`CotStreamSplitter` cuts
that into complete documents (``<?xml``/``<event`` through the matching ``</event>``) and
protobuf frames, to be parsed one by one with
:func:`~dispatch_console.feeds.cot.proto.parse_message`.

It never holds more than ``max_bytes`` of one event: an event that has not ended by then is
reported and skipped, as is anything that is not CoT; the splitter then resynchronises at the
next ``<event`` or ``<?xml``. CoT events never nest, so an ``<event`` inside an unfinished
event means the first one was cut short: it is reported and the new one starts there. The
output depends only on the bytes, never on how they were chunked.
"""

from __future__ import annotations

import re
from typing import Final

from dispatch_console.feeds.cot.parse import CotRejected
from dispatch_console.feeds.cot.proto import MAGIC, read_varint

DEFAULT_STREAM_CAP: Final = 256 * 1024

_BOM: Final = b"\xef\xbb\xbf"
_SYNC = re.compile(rb"<\?xml[ \t\r\n]|<event[ \t\r\n/>]")
_SYNC_KEEP: Final = 6  # a marker cut by a chunk boundary has at most 6 bytes in the buffer
_EVENT_OPEN = re.compile(rb"<event[ \t\r\n/>]")
_EVENT_CLOSE = re.compile(rb"</event[ \t\r\n>]")
_XML_DECLARATION = re.compile(rb"<\?xml[ \t\r\n]")
_MARKUP = re.compile(rb"<(?:[!?]|event[ \t\r\n/>]|/event[ \t\r\n>])")  # what splitting needs
_NOT_WS = re.compile(rb"[^ \t\r\n]")
_TAG_BODY = re.compile(rb"""(?:[^<>"']++|"[^<"]*+"|'[^<']*+')*+""")  # up to > or <
_IN_DOUBLE = re.compile(rb'[<"]')
_IN_SINGLE = re.compile(rb"[<']")
_LT, _GT, _SLASH, _DQUOTE = 0x3C, 0x3E, 0x2F, 0x22


def _undecided(rest: bytes | bytearray) -> bool:
    """Too short to tell whether a marker starts here."""
    return (len(rest) <= 5 and b"<?xml".startswith(rest)) or (
        len(rest) <= 6 and b"<event".startswith(rest)
    )


class CotStreamSplitter:
    """Feed TCP chunks in; get complete XML events (bytes), protobuf frames or rejections out."""

    def __init__(self, *, max_bytes: int = DEFAULT_STREAM_CAP, protobuf: bool = True) -> None:
        """``protobuf``: a ``0xbf`` where a message may begin starts a TAK protocol v1 frame
        (never in an XML stream, where a message begins with ``<``); False treats it as junk."""
        if max_bytes < 64:
            raise ValueError("max_bytes must be at least 64")
        self._cap = max_bytes
        self._protobuf = protobuf
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._out: list[bytes | CotRejected] = []
        # between messages
        self._clean = True  # at the stream start or right after a complete message
        self._in_garbage = False
        self._garbage = 0
        self._quiet_garbage = False  # the tail of an oversized event: already reported
        # inside an XML document (which always starts at _buf[0])
        self._in_doc = False
        self._seen_root = False  # the document's <event start tag has begun
        self._await: bytes | None = None  # terminator of a comment, CDATA, PI or end tag
        self._await_close = False  # the awaited ">" ends </event
        self._in_tag = False  # inside the <event ...> start tag
        self._quote = 0

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a message."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[bytes | CotRejected]:
        """Add bytes from the stream; return every message completed by them, in order."""
        self._out = []
        view = memoryview(chunk)
        for offset in range(0, len(view), self._cap):
            self._buf += view[offset : offset + self._cap]
            while self._step():
                pass
        out, self._out = self._out, []
        return out

    def finish(self) -> list[CotRejected]:
        """The stream ended: report whatever was left incomplete, and start afresh."""
        out: list[CotRejected] = []
        if self._in_doc:
            out.append(CotRejected(f"stream ended inside an event ({len(self._buf)} bytes)"))
        elif self._in_garbage:
            self._out = []
            self._garbage += len(self._buf)
            self._report_garbage(final=True)
            out += [x for x in self._out if isinstance(x, CotRejected)]
        elif self._buf[self._pos :].strip(b" \t\r\n"):
            out.append(CotRejected("stream ended inside a message"))
        self._reset()
        return out

    # --- the state machine -------------------------------------------------------------------

    def _step(self) -> bool:
        """One move; False when more bytes are needed."""
        if self._in_doc:
            return self._step_in_doc()
        if self._in_garbage:
            return self._step_in_garbage()
        return self._step_between()

    def _reject(self, reason: str) -> None:
        self._out.append(CotRejected(reason))

    def _compact(self, keep_from: int) -> None:
        del self._buf[:keep_from]
        self._pos = 0

    def _begin_doc(self, at: int) -> None:
        self._compact(at)
        self._in_doc, self._seen_root, self._in_tag = True, False, False
        self._await, self._await_close = None, False
        self._clean = False

    def _end_doc(self, end: int) -> None:
        self._out.append(bytes(self._buf[:end]))
        self._compact(end)
        self._in_doc = False
        self._clean = True

    def _step_between(self) -> bool:
        buf = self._buf
        found = _NOT_WS.search(buf, self._pos)
        if found is None:
            self._compact(len(buf))
            return False
        pos = found.start()
        first = buf[pos]
        if first == _LT:
            if _SYNC.match(buf, pos):
                self._begin_doc(pos)
                return True
            if _undecided(buf[pos : pos + 7]):
                self._compact(pos)
                return False
        elif first == MAGIC and self._clean and self._protobuf:
            return self._step_frame(pos)
        elif self._clean and buf[pos : pos + 3] == _BOM:
            self._pos = pos + 3
            return True
        elif self._clean and len(buf) - pos < 3 and _BOM.startswith(buf[pos:]):
            self._compact(pos)
            return False
        self._clean = False
        self._in_garbage, self._garbage, self._quiet_garbage = True, 0, False
        self._pos = pos
        return True

    def _step_frame(self, pos: int) -> bool:
        """A TAK protocol v1 stream frame at ``pos``: 0xbf, varint length, protobuf."""
        buf = self._buf
        try:
            header = read_varint(buf, pos + 1)
        except CotRejected as exc:
            self._reject(exc.reason)
            self._enter_garbage(pos + 1, quiet=True)
            return True
        if header is None:
            self._compact(pos)
            return False
        length, start = header
        if length > self._cap:
            self._reject(f"protobuf frame of {length} bytes is over the {self._cap}-byte cap")
            self._enter_garbage(start, quiet=True)
            return True
        if length == 0:
            self._reject("empty protobuf frame")
            self._pos = start
            return True
        end = start + length
        if len(buf) < end:
            self._compact(pos)
            return False
        self._out.append(bytes(buf[pos:end]))
        self._compact(end)
        self._clean = True
        return True

    def _enter_garbage(self, at: int, *, quiet: bool) -> None:
        self._compact(at)
        self._clean = False
        self._in_garbage, self._garbage, self._quiet_garbage = True, 0, quiet

    def _step_in_garbage(self) -> bool:
        buf = self._buf
        found = _SYNC.search(buf, self._pos)
        if found is None:
            keep = max(self._pos, len(buf) - _SYNC_KEEP)
            self._garbage += keep - self._pos
            self._compact(keep)
            self._report_garbage(final=False)
            return False
        self._garbage += found.start() - self._pos
        self._report_garbage(final=True)
        self._in_garbage = False
        self._begin_doc(found.start())
        return True

    def _report_garbage(self, *, final: bool) -> None:
        """Report skipped bytes in cap-sized pieces (so chunking cannot change the report);
        the first piece after an oversized event is its tail, already reported."""
        while self._garbage >= self._cap or (final and self._garbage > 0):
            piece = min(self._garbage, self._cap)
            if not self._quiet_garbage:
                self._reject(f"skipped {piece} bytes that are not CoT")
            self._garbage -= piece
            self._quiet_garbage = False

    def _interrupt(self, at: int) -> bool:
        """A new document starts at ``at`` before the current one ended."""
        if self._seen_root:
            self._reject("incomplete event: a new event began before </event>")
        else:
            self._reject("XML declaration with no event after it")
        self._begin_doc(at)
        return True

    def _overflow(self) -> bool:
        """The document is not complete within the cap: report it and skip the rest of it."""
        self._reject(f"event is larger than the {self._cap}-byte cap")
        self._in_doc = False
        self._enter_garbage(self._cap, quiet=True)
        return True

    def _wait(self, resume: int) -> bool:
        """Nothing more to find within the window: more bytes, or the cap is reached."""
        self._pos = resume
        if len(self._buf) >= self._cap:
            return self._overflow()
        return False

    def _step_in_doc(self) -> bool:
        buf = self._buf
        limit = min(len(buf), self._cap)
        pos = self._pos
        if self._in_tag:
            return self._step_start_tag(limit)
        if self._await is not None:
            found = buf.find(self._await, pos, limit)
            if found < 0:
                return self._wait(max(pos, limit - len(self._await) + 1))
            end = found + len(self._await)
            self._await = None
            if self._await_close:
                self._await_close = False
                self._end_doc(end)
                return True
            self._pos = end
            return True
        markup = _MARKUP.search(buf, pos, limit)
        if markup is None:  # a marker cut by the window's end starts in its last 7 bytes
            return self._wait(max(pos, limit - 7))
        lt = markup.start()
        rest = bytes(buf[lt : min(lt + 9, limit)])
        if rest.startswith(b"<!--"):
            self._await, self._pos = b"-->", lt + 4
        elif rest.startswith(b"<![CDATA["):
            self._await, self._pos = b"]]>", lt + 9
        elif len(rest) < 9 and (b"<!--".startswith(rest) or b"<![CDATA[".startswith(rest)):
            return self._wait(lt)
        elif rest.startswith(b"<!"):
            self._await, self._pos = b">", lt + 2
        elif rest.startswith(b"<?"):
            if lt > 0 and _XML_DECLARATION.match(buf, lt, limit):
                return self._interrupt(lt)
            if lt > 0 and len(rest) < 6 and b"<?xml".startswith(rest):
                return self._wait(lt)
            self._await, self._pos = b"?>", lt + 2
        elif rest.startswith(b"</"):
            if _EVENT_CLOSE.match(buf, lt, limit):
                self._await, self._await_close, self._pos = b">", True, lt + 7
            elif len(rest) < 8 and b"</event".startswith(rest):
                return self._wait(lt)
            else:
                self._pos = lt + 2
        elif _EVENT_OPEN.match(buf, lt, limit):
            if self._seen_root:
                return self._interrupt(lt)
            self._seen_root = True
            self._in_tag, self._quote, self._pos = True, 0, lt + 6
        elif len(rest) < 7 and b"<event".startswith(rest):
            return self._wait(lt)
        else:
            self._pos = lt + 1  # any other element: only <event> and </event> count
        return True

    def _step_start_tag(self, limit: int) -> bool:
        """Inside ``<event ...``: find its ``>`` outside quoted values (which may hold ``>``)."""
        buf = self._buf
        pos = self._pos
        while True:
            if self._quote:  # inside a value that began in an earlier feed
                pattern = _IN_DOUBLE if self._quote == _DQUOTE else _IN_SINGLE
                found = pattern.search(buf, pos, limit)
                if found is None:
                    return self._wait(limit)
                pos = found.start()
                if buf[pos] == _LT:  # never legal in a start tag: this event is broken
                    self._in_tag, self._quote, self._pos = False, 0, pos
                    return True
                self._quote, pos = 0, pos + 1
            body = _TAG_BODY.match(buf, pos, limit)
            pos = body.end() if body is not None else pos
            if pos >= limit:
                return self._wait(limit)
            byte = buf[pos]
            if byte == _LT:
                self._in_tag, self._pos = False, pos
                return True
            if byte != _GT:  # a quote whose value does not end within the bytes we have
                self._quote, pos = byte, pos + 1
                continue
            self._in_tag = False
            if buf[pos - 1] == _SLASH:  # <event .../>: a whole (if useless) document
                self._end_doc(pos + 1)
                return True
            self._pos = pos + 1
            return True
