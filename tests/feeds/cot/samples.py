"""CoT samples built into the tests (so they run without ../shared/data) and invariants."""

from __future__ import annotations

import math

from dispatch_console.feeds.cot import CotEvent, CotRejected, parse_cot

# The ATAK PLI capture (af_pli_a-f-G-U-C.xml), with the documentation address as endpoint.
PLI = (
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><event version='2.0' "
    b"uid='ANDROID-53af0912586418dc' type='a-f-G-U-C' time='2020-08-29T21:14:00.406Z' "
    b"start='2020-08-29T21:14:00.406Z' stale='2020-08-29T21:15:15.406Z' how='h-e'>"
    b"<point lat='39.71401955573084' lon='-104.99452709918448' hae='1586.245787738948' "
    b"ce='9999999.0' le='9999999.0'/><detail><takv os='29' version='4.0.0.7 (a457ad0d)."
    b"1597850931-CIV' device='GOOGLE PIXEL 4 XL' platform='ATAK-CIV'/><contact "
    b"endpoint='192.0.2.10:4242:tcp' callsign='ALPHA-1'/><uid Droid='ALPHA-1'/>"
    b"<precisionlocation altsrc='DTED2' geopointsrc='USER'/><__group role='Team Lead' "
    b"name='Orange'/><status battery='58'/><track course='327.66875837972367' speed='0.0'/>"
    b"</detail></event>"
)

# The WinTAK 911 alert (fts_alert_911_b-a-o-tbl.cot): tabs, detail before point.
ALERT = b"""<?xml version="1.0"?>
<event how="h-e"
       stale="2022-10-18T13:31:52.224Z"
       start="2022-10-18T13:31:42.224Z"
       time="2022-10-18T13:31:42.224Z"
       type="b-a-o-tbl"
       uid="ANDROID-000000000000001-9-1-1"
       version="2.0">
\t<detail>
\t\t<contact callsign="testClient1-Alert"/>
\t\t<emergency type="911 Alert">helioClient1</emergency>
\t\t<link relation="p-p"
\t\t      type="a-f-G-U-C"
\t\t      uid="ANDROID-000000000000001"/>
\t\t<remarks>CALL 911 NOW</remarks>
\t</detail>
\t<point ce="9999999.0"
\t       hae="162.119"
\t       lat="55.7555821"
\t       le="9999999.0"
\t       lon="37.6270905"/>
</event>
"""

# The WinTAK team chat (fts_wintak_teamchat_b-t-f.cot): no declaration, 2-digit fractions.
CHAT = (
    b'<event version="2.0" uid="GeoChat.S-1-5-21-2151449903-2689254037-3848131860-1001.Red.'
    b'7043930b-f045-44a4-9ec8-d950ded9dcb7" type="b-t-f" time="2022-05-16T13:24:59.71Z" '
    b'start="2022-05-16T13:24:59.71Z" stale="2022-05-17T13:24:59.71Z" how="h-g-i-g-o"> '
    b'<point lat="0" lon="0" hae="9999999" ce="9999999" le="9999999" /> <detail> <__chat '
    b'id="Red" chatroom="Red" senderCallsign="Wintak" groupOwner="false"> <chatgrp id="Red" '
    b'uid0="S-1-5-21-2151449903-2689254037-3848131860-1001" uid1="user1" uid2="user2" /> '
    b'</__chat> <remarks to="Red">Test message from wintak in team </remarks> </detail> '
    b"</event>"
)


def event_with(
    *,
    lat: str = "38.2",
    lon: str = "-84.5",
    callsign: str = "ALPHA-1",
    detail_inner: str = "",
    root: str = "event",
    attrs: dict[str, str] | None = None,
) -> bytes:
    """A small PLI with the given raw (already escaped) attribute texts."""
    base = {
        "version": "2.0",
        "uid": "u-1",
        "type": "a-f-G-U-C",
        "time": "2026-11-24T09:14:05.000Z",
        "start": "2026-11-24T09:14:05.000Z",
        "stale": "2026-11-24T09:15:05.000Z",
        "how": "m-g",
    }
    if attrs is not None:
        base = attrs
    head = " ".join(f'{k}="{v}"' for k, v in base.items())
    return (
        f'<{root} {head}><point lat="{lat}" lon="{lon}" hae="9999999.0" ce="12.5" '
        f'le="9999999.0"/><detail><contact callsign="{callsign}"/>{detail_inner}</detail>'
        f"</{root}>"
    ).encode()


def check_event(ev: CotEvent) -> None:
    """What every accepted event guarantees, whatever came in."""
    assert math.isfinite(ev.lat) and -90.0 <= ev.lat <= 90.0
    assert math.isfinite(ev.lon) and -180.0 <= ev.lon <= 180.0
    for value in (ev.hae, ev.ce, ev.le, ev.speed_mps, ev.course_deg):
        assert value is None or math.isfinite(value)
    assert ev.ce is None or ev.ce >= 0.0
    assert ev.le is None or ev.le >= 0.0
    assert ev.speed_mps is None or ev.speed_mps >= 0.0
    assert ev.course_deg is None or 0.0 <= ev.course_deg <= 360.0
    for link in ev.links:
        if link.point is not None:
            lat, lon = link.point
            assert math.isfinite(lat) and -90.0 <= lat <= 90.0
            assert math.isfinite(lon) and -180.0 <= lon <= 180.0
    assert ev.uid.strip() and ev.type.strip()
    assert all(isinstance(t, int) for t in (ev.time_us, ev.start_us, ev.stale_us))
    assert all(isinstance(flag, str) for flag in ev.flags)
    hash(ev)  # frozen all the way down


def outcome(data: bytes) -> CotEvent | str:
    """The event (checked), or the rejection reason: nothing else may come out."""
    try:
        ev = parse_cot(data)
    except CotRejected as exc:
        assert exc.reason and "\n" not in exc.reason
        return exc.reason
    check_event(ev)
    return ev
