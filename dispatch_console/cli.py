"""``dispatch-console``: the command line.

Every command takes ``--db URL`` (default: a SQLite file in the user's data directory, or
``$DISPATCH_CONSOLE_DB``). Errors are one line on stderr and a non-zero exit, never a traceback
(the traceback of an unexpected error goes to the log file named in that line).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec
from platformdirs import user_log_path

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.domain.sentences import acting_commander_text
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.text import neutralise
from dispatch_console.domain.timeutil import US_PER_S, format_duration, iso, parse_iso
from dispatch_console.domain.views import responder_rows
from dispatch_console.store import Store, StoreError
from dispatch_console.store.registry import RegistryError
from dispatch_console.store.urls import default_url, normalize_url, redact

log = logging.getLogger("dispatch_console")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
#: ``verify``: the event log was changed.
EXIT_TAMPERED = 3

CLI_ACTOR_NAME = "cli"
#: The demo database's account (README): no second factor, the demo database only.
DEMO_ACCOUNT = "demo"
DEMO_PASSWORD = "demo-dispatch-2026"
MAX_OFFSET_S = 10 * 365 * 86400.0


class CliError(Exception):
    """A user-facing error: printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    args.db_given = args.db is not None
    args.db = _resolve_db(args.db)
    try:
        return int(args.handler(args, sys.stdout) or 0)
    except BrokenPipeError:  # the reader went away (`... | head`): not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit quiet
        return 0
    except (CliError, StoreError, RegistryError, RuleViolation, ValueError, OSError) as exc:
        print(f"dispatch-console: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log_file = _log_traceback()
        print(
            f"dispatch-console: internal error: {type(exc).__name__}: {exc} "
            f"(details in {log_file})",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _security_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cot-plaintext",
        action="store_true",
        help="also take plain CoT (UDP and TCP, no credentials); a device enrolled with a "
        "certificate is never heard on it",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="listen on an address other than loopback without TLS (refused otherwise)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database URL or SQLite file (default: $DISPATCH_CONSOLE_DB or a file in the "
        "user data directory); PostgreSQL: postgresql+psycopg://user@host/db; 'demo': the demo "
        "console's (make run), 'example': the example incident's",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser = argparse.ArgumentParser(
        prog="dispatch-console",
        parents=[common],
        description="School alert dispatch console: incidents, responders, staging.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        return p

    p = command("init", "create the database, or bring its schema up to date")
    p.add_argument(
        "--demo",
        action="store_true",
        help="also load the demo county: schools with pre-plans, three agencies' "
        "rosters, responders' devices, and a key for each school and device",
    )
    p.set_defaults(handler=cmd_init)

    p = command(
        "import-schools",
        "import schools and their pre-plans from GeoJSON, a zipped shapefile, GeoPackage, "
        "a file geodatabase or Esri JSON",
    )
    _gis_arguments(p)
    p.set_defaults(handler=cmd_import_schools)

    p = command(
        "import-roads",
        "replace the store's roads (drawn by every console, replay and report of this store) "
        "with a county's road centrelines: GeoJSON, zipped shapefile, GeoPackage, FileGDB, "
        "Esri JSON",
    )
    _gis_arguments(p)
    p.set_defaults(handler=cmd_import_roads)

    p = command("import-roster", "import an agency roster from CSV")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_import_roster)

    p = command("incidents", "list incidents")
    p.set_defaults(handler=cmd_incidents)

    p = command("export-incident", "write one incident to a portable file (replay elsewhere)")
    p.add_argument("incident")
    p.add_argument("-o", "--output", type=Path, required=True, help="the file to write")
    p.set_defaults(handler=cmd_export_incident)

    p = command(
        "export-kml",
        "an incident for Google Earth: school, areas, each responder's track (time slider), "
        "warnings at their time",
    )
    p.add_argument("incident")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="a .kml or .kmz file")
    p.set_defaults(handler=cmd_export_kml)

    p = command(
        "export-eido",
        "an incident as a NENA EIDO 1.0 document (JSON) for a CAD, as it was at an instant",
    )
    p.add_argument("incident")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="default: standard output")
    p.add_argument(
        "--at", default=None, help="ISO 8601 time with offset, or +SECONDS after the first event"
    )
    p.set_defaults(handler=cmd_export_eido)

    p = command("export-geojson", "an incident's school, areas, tracks and warnings as GeoJSON")
    p.add_argument("incident")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="a .geojson file")
    p.set_defaults(handler=cmd_export_geojson)

    p = command("import-incident", "store an incident from a portable file (append-only)")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--untrusted",
        action="store_true",
        help="import a file that is unsigned or not signed by a trusted key; the incident is "
        "then marked UNTRUSTED everywhere it is shown",
    )
    p.set_defaults(handler=cmd_import_incident)

    # --- the tamper-evident log (issue 16) ---
    p = command(
        "verify",
        "recompute the event log's hash chain and check its signed checkpoints; name the "
        "first event that breaks it (exit 3 if it does)",
    )
    p.add_argument("incident", nargs="?", default=None, help="report only this incident")
    p.add_argument(
        "--witness",
        metavar="FILE",
        default=None,
        help="a witness file (kept by a gateway or console, or by an earlier verify): the "
        "chain must still reach the checkpoint it saw; advanced to the newest checkpoint when "
        "the log is intact",
    )
    p.set_defaults(handler=cmd_verify)

    p = command(
        "checkpoint", "sign the chain's newest event with the centre's key (see: signing-key)"
    )
    p.set_defaults(handler=cmd_checkpoint)

    p = command(
        "signing-key",
        "show the centre's public signing key (made on first use; the private key stays in "
        "its file, $DISPATCH_CONSOLE_SIGNING_KEY_FILE or the user config folder)",
    )
    p.set_defaults(handler=cmd_signing_key)

    trust = sub.add_parser(
        "trust", help="public keys whose signatures this centre accepts"
    ).add_subparsers(title="trust", metavar="ACTION")
    p = trust.add_parser(
        "add", parents=[common], help="trust a public key (another centre's signing-key)"
    )
    p.add_argument("key", help="the key as signing-key prints it: ed25519:<64 hex digits>")
    p.add_argument("--label", required=True, help="whose key it is")
    p.set_defaults(handler=cmd_trust_add)
    p = trust.add_parser("list", parents=[common], help="list trusted keys")
    p.set_defaults(handler=cmd_trust_list)

    p = command("events", "list an incident's events in order")
    p.add_argument("incident")
    p.add_argument("--format", choices=("table", "jsonl"), default="table")
    p.add_argument(
        "--type",
        action="append",
        dest="types",
        metavar="TYPE",
        help="only events of this type (repeatable)",
    )
    p.set_defaults(handler=cmd_events)

    p = command("state", "an incident's state at an instant")
    p.add_argument("incident")
    p.add_argument(
        "--at",
        default=None,
        help="ISO 8601 time with offset, or +SECONDS after the incident's first "
        "event (default: now)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=cmd_state)

    p = command("ics211", "the ICS 211 incident check-in list, as CSV or PDF (by the extension)")
    p.add_argument("incident")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="a .csv or .pdf file")
    p.add_argument(
        "--at",
        default=None,
        help="ISO 8601 time with offset, or +SECONDS after the incident's first event "
        "(default: now)",
    )
    p.add_argument("--prepared-by", default=None, metavar="NAME", help="block 17: your name")
    p.add_argument("--position", default=None, help="block 17: your position or title")
    p.add_argument(
        "--location",
        default=None,
        help="block 3: where check-in takes place (default: the check-in point and staging "
        "areas the record names)",
    )
    p.set_defaults(handler=cmd_ics211)

    p = command("example", "build the built-in example incident in a fresh database, as text")
    p.set_defaults(handler=cmd_example)

    p = command("console", "open the dispatcher console (the embedded gateway runs beside it)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="the demo: a fresh database with the demo county, and the large active-shooter "
        "scenario starting a few seconds after launch",
    )
    p.add_argument("--scenario", default=None, help="with --demo: another scenario file")
    p.add_argument("--speed", type=float, default=1.0, help="with --demo: simulated s per s")
    p.add_argument("--no-gateway", action="store_true", help="another process runs the gateway")
    p.add_argument("--host", default="127.0.0.1", help="the gateway's address")
    p.add_argument("--http-port", type=int, default=8470)
    p.add_argument("--udp-port", type=int, default=6969)
    p.add_argument("--tcp-port", type=int, default=8087)
    _security_arguments(p)
    p.add_argument(
        "--ca-dir",
        default=None,
        metavar="DIR",
        help="the embedded gateway also takes CoT over TLS (--cot-tls-port), with device "
        "certificates of this authority (devices enroll --ca-dir DIR)",
    )
    p.add_argument("--cot-tls-port", type=int, default=8089)
    p.add_argument(
        "--roads",
        default=None,
        help="a roads GeoJSON file for the basemap, instead of the store's (import-roads)",
    )
    p.add_argument("--mbtiles", default=None, help="an offline raster basemap (MBTiles file)")
    p.add_argument("--user", default=None, help="your account's name (to pre-fill sign-in)")
    p.add_argument(
        "--role", default=None, help="ignored: your role is your account's (kept for old scripts)"
    )
    p.add_argument(
        "--witness",
        metavar="FILE",
        default=None,
        help="where this console keeps the newest signed checkpoint it has seen, outside the "
        "database (default: in the user's state directory; none for --demo)",
    )
    p.add_argument(
        "--lock-after",
        type=float,
        default=15.0,
        metavar="MINUTES",
        help="lock the session after this many idle minutes (default 15)",
    )
    p.add_argument("--theme", choices=("night", "day"), default=None)
    p.add_argument("--quit-after", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_console)

    p = command("screenshot", "render the console on the demo scenario at a fixed moment to PNG")
    p.add_argument("-o", "--output", required=True, help="the PNG file to write")
    p.add_argument("--at", type=float, default=150.0, help="simulated seconds into the scenario")
    p.add_argument("--size", default="1920x1080", help="window size, WIDTHxHEIGHT")
    p.add_argument("--theme", choices=("night", "day"), default="night")
    p.add_argument("--scenario", default=None, help="a scenario file (default: the large one)")
    p.set_defaults(handler=cmd_screenshot)

    p = command("gateway", "run the feed gateway (HTTP, CoT UDP and TCP) until Ctrl-C/SIGTERM")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--http-port", type=int, default=8470)
    p.add_argument("--udp-port", type=int, default=6969, help="Cursor-on-Target over UDP")
    p.add_argument("--tcp-port", type=int, default=8087, help="Cursor-on-Target TCP stream")
    p.add_argument("--tls-cert", default=None, help="certificate file: serve HTTPS")
    p.add_argument("--tls-key", default=None, help="private key file for --tls-cert")
    _security_arguments(p)
    p.add_argument(
        "--cot-tls-port",
        type=int,
        default=8089,
        help="CoT over TLS, a client certificate per device (devices enroll); 8089 as TAK Server",
    )
    p.add_argument("--no-cot-tls", action="store_true", help="no CoT over TLS listener")
    p.add_argument(
        "--ca-dir",
        default=None,
        metavar="DIR",
        help="the device certificate authority (default: $DISPATCH_CONSOLE_CA_DIR, or ca/ "
        "beside the master key)",
    )
    p.add_argument(
        "--witness",
        metavar="FILE",
        default=None,
        help="where the newest signed checkpoint is witnessed, outside the database (default: "
        "in the user's state directory)",
    )
    p.add_argument(
        "--journal",
        default=None,
        metavar="FILE",
        help="where messages are kept while the database is unreachable (default: beside a "
        "SQLite database, or in your state folder for PostgreSQL)",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS/NET",
        help="a reverse proxy or load balancer whose X-Forwarded-For is believed (repeatable)",
    )
    p.add_argument(
        "--no-udp-worker",
        action="store_true",
        help="receive CoT UDP in the gateway process itself (a one-core machine)",
    )
    p.set_defaults(handler=cmd_gateway)

    keys = sub.add_parser("keys", help="API keys of schools and devices").add_subparsers(
        title="keys", metavar="ACTION"
    )
    p = keys.add_parser("add", parents=[common], help="make a key; its secret is shown once")
    p.add_argument("kind", choices=("school", "device", "vendor", "cad"))
    p.add_argument(
        "scope",
        help="the school id, or the device id, the key may send for; for a vendor (CAP "
        "alerts for many schools) the vendor's name; for a cad (reads EIDO, sends nothing) "
        "the CAD's name",
    )
    p.add_argument("--label", default=None)
    vendor = p.add_mutually_exclusive_group()
    vendor.add_argument(
        "--schools", default=None, metavar="ID,ID", help="vendor: the schools it may alert for"
    )
    vendor.add_argument("--all", action="store_true", help="vendor: every school")
    p.set_defaults(handler=cmd_keys_add)
    p = keys.add_parser("list", parents=[common], help="list keys (never their secrets)")
    p.set_defaults(handler=cmd_keys_list)
    p = keys.add_parser("revoke", parents=[common], help="revoke a key")
    p.add_argument("key_id")
    p.set_defaults(handler=cmd_keys_revoke)

    users = sub.add_parser(
        "users", help="console accounts: password and one-time code (issue 16)"
    ).add_subparsers(title="users", metavar="ACTION")
    p = users.add_parser(
        "add",
        parents=[common],
        help="enrol a console user: asks the password, shows the one-time-code secret once "
        "(as a QR code for an authenticator app)",
    )
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ev.ROLES)
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p.set_defaults(handler=cmd_users_add)
    p = users.add_parser(
        "pg-roles",
        parents=[common],
        help="PostgreSQL, as the owner: create the console roles' group roles, grants and "
        "row-level security (then users add makes login roles)",
    )
    p.set_defaults(handler=cmd_users_pg_roles)
    p = users.add_parser(
        "add-gateway",
        parents=[common],
        help="PostgreSQL, as the owner: a login role for a gateway (in dc_gateway: it appends "
        "only the feeds' events; SCRAM password, no one-time code)",
    )
    p.add_argument("name")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p.set_defaults(handler=cmd_users_add_gateway)
    p = users.add_parser("list", parents=[common], help="list accounts (never their secrets)")
    p.set_defaults(handler=cmd_users_list)
    p = users.add_parser("unlock", parents=[common], help="unlock a locked-out account")
    p.add_argument("name")
    p.set_defaults(handler=cmd_users_unlock)
    p = users.add_parser(
        "new-code",
        parents=[common],
        help="a new one-time-code secret for an account or PostgreSQL login role (a lost "
        "phone, or a login role made before the database checked codes); shown once as a QR code",
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_users_new_code)
    p = users.add_parser("role", parents=[common], help="change an account's role")
    p.add_argument("name")
    p.add_argument("role", choices=ev.ROLES)
    p.set_defaults(handler=cmd_users_role)

    devices = sub.add_parser("devices", help="registered responder devices").add_subparsers(
        title="devices", metavar="ACTION"
    )
    p = devices.add_parser("add", parents=[common], help="register a device")
    p.add_argument("device_id")
    p.add_argument("--tak-uid", default=None, help="the TAK uid its CoT positions carry")
    p.add_argument("--label", default=None, help="who carries it, for people")
    p.add_argument(
        "--home",
        default=None,
        metavar="LAT,LON",
        help="home or patrol area, used to alert it before its first position",
    )
    p.set_defaults(handler=cmd_devices_add)
    p = devices.add_parser(
        "invite",
        parents=[common],
        help="a one-time link (and its QR code) that enrols a phone's browser as the device",
    )
    p.add_argument("device_id")
    p.add_argument(
        "--url",
        default="http://127.0.0.1:8470",
        help="the gateway as the phone reaches it (default %(default)s)",
    )
    p.add_argument("--no-qr", action="store_true", help="print the link only")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="print an http:// link for an address other than loopback anyway (refused "
        "otherwise: a phone's browser cannot enrol over plain HTTP)",
    )
    p.set_defaults(handler=cmd_devices_invite)
    p = devices.add_parser(
        "web-cert",
        parents=[common],
        help="a server certificate from the console's authority for the gateway's HTTPS, under "
        "the names phones use (for gateway --tls-cert/--tls-key)",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="DNS names or addresses of the gateway")
    p.add_argument(
        "-o", "--output", type=Path, default=Path("."), help="folder for the files (default: .)"
    )
    p.add_argument("--ca-dir", default=None, metavar="DIR", help="as for the gateway")
    p.add_argument("--days", type=int, default=825, help="how long it is valid (at most 825)")
    p.set_defaults(handler=cmd_devices_web_cert)
    p = devices.add_parser("list", parents=[common], help="list registered devices")
    p.set_defaults(handler=cmd_devices_list)
    p = devices.add_parser("remove", parents=[common], help="remove a device")
    p.add_argument("device_id")
    p.set_defaults(handler=cmd_devices_remove)
    p = devices.add_parser(
        "enroll",
        parents=[common],
        help="issue the device a client certificate for CoT over TLS and write what ATAK "
        "imports (.p12, data package, connection QR code)",
    )
    p.add_argument("device_id")
    p.add_argument("--host", required=True, help="the gateway's address as the device reaches it")
    p.add_argument("--port", type=int, default=8089, help="the gateway's CoT TLS port")
    p.add_argument(
        "-o", "--output", type=Path, default=Path("."), help="folder for the files (default: .)"
    )
    p.add_argument("--ca-dir", default=None, metavar="DIR", help="as for the gateway")
    p.add_argument("--days", type=int, default=365, help="how long the certificate is valid")
    p.set_defaults(handler=cmd_devices_enroll)

    rules = sub.add_parser(
        "rules", help="agency response rules: who is alerted, what they are told"
    ).add_subparsers(title="rules", metavar="ACTION")
    p = rules.add_parser("load", parents=[common], help="load an agency's rules (TOML)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_rules_load)
    p = rules.add_parser("show", parents=[common], help="the rules in force, per agency")
    p.set_defaults(handler=cmd_rules_show)

    gate = sub.add_parser("gate", help="the dispatcher gate of agency rules").add_subparsers(
        title="gate", metavar="ACTION"
    )
    p = gate.add_parser(
        "release", parents=[common], help="release an agency's held alert to its officers"
    )
    p.add_argument("incident")
    p.add_argument("agency")
    p.add_argument("--by", required=True, help="the dispatcher (a registered console user)")
    p.set_defaults(handler=cmd_gate_release)

    p = sub.add_parser(
        "simulate",
        add_help=False,
        prefix_chars="\0",
        help="run a scenario through the gateway (see: dispatch-console simulate --help)",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_simulate)

    p = command("rejections", "messages the gateway refused, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_rejections)

    p = command("replay", "replay a past incident in the console, read-only (K: play/pause)")
    p.add_argument("incident")
    p.add_argument(
        "--at",
        default=None,
        help="start at: ISO 8601 time with offset, or +SECONDS after the incident's first "
        "event (default: its first event)",
    )
    p.add_argument(
        "--speed", type=float, default=10.0, choices=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
    )
    p.add_argument(
        "--roads",
        default=None,
        help="a roads GeoJSON file for the basemap, instead of the store's (import-roads)",
    )
    p.add_argument("--theme", choices=("night", "day"), default=None)
    p.add_argument("--quit-after", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_replay)

    p = command("report", "an incident's after-action report, as PDF or HTML (by the extension)")
    p.add_argument("incident")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="a .pdf or .html file")
    p.add_argument(
        "--roads",
        default=None,
        help="a roads GeoJSON file for the map snapshots (default: the store's roads, see "
        "import-roads; else the demo county's roads "
        "when the school is in the demo county)",
    )
    p.add_argument("--theme", choices=("day", "night"), default="day", help="maps and charts")
    p.set_defaults(handler=cmd_report)
    return parser


# --- commands ----------------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> Store:
    return Store(args.db)


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        print(f"database ready: {redact(store.url)}", file=out)
        if args.demo:
            from dispatch_console.county.load import load_demo_county
            from dispatch_console.feeds.keys import SecretBox

            box = SecretBox()
            county = load_demo_county(store, box, rules=True)
            added = ", ".join(f"{count} {what}" for what, count in county.added.items())
            print(
                f"demo county from {county.directory}: added {added or 'nothing (loaded already)'}",
                file=out,
            )
            print(
                f"{len(county.schools)} schools, {len(county.roster)} officers on the rosters, "
                f"{len(county.devices)} devices; key secrets are sealed with {box.path} and "
                "used by the simulator",
                file=out,
            )
            _print_rules(store, out)
    return 0


def _gis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="the file (.geojson, .zip, .shp, .gpkg, .gdb, .json)")
    p.add_argument(
        "--crs",
        default=None,
        help="the coordinate system of a file that declares none (a shapefile without .prj), "
        "e.g. EPSG:3089; overrides a declared one with a warning",
    )
    p.add_argument("--layer", default=None, help="the layer (or dataset in a ZIP) to read")
    p.add_argument(
        "--encoding", default=None, help="the text encoding of the attributes (e.g. cp1252)"
    )


def cmd_import_schools(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.importers.gis import load_gis_schools

    report = load_gis_schools(args.file, crs=args.crs, layer=args.layer, encoding=args.encoding)
    with _store(args) as store:
        store.upsert_schools(report.imported)
        _audit(
            store,
            ev.SchoolsImported(
                str(args.file), len(report.imported), len(report.rejected), len(report.skipped)
            ),
        )
    for line in report.lines():
        print(line, file=out)
    print(f"{args.file}: {report.summary()}", file=out)
    return 0 if report.imported or not report.rejected else EXIT_ERROR


def cmd_import_roads(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.importers.gis import load_gis_roads

    report = load_gis_roads(args.file, crs=args.crs, layer=args.layer, encoding=args.encoding)
    for line in report.lines():
        print(line, file=out)
    print(f"{args.file}: {report.summary()}", file=out)
    if not report.imported:
        print(f"{args.file}: no roads imported; the stored roads are unchanged", file=out)
        return EXIT_ERROR
    with _store(args) as store:
        store.replace_roads(report.imported)
        _audit(
            store,
            ev.RoadsImported(
                str(args.file), len(report.imported), len(report.rejected), len(report.skipped)
            ),
        )
    return 0


def cmd_export_kml(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.replay.geo_export import read_geo_incident, write_kml

    output = Path(args.output)
    if output.suffix.lower() not in (".kml", ".kmz"):
        raise CliError(f"-o {args.output!r}: the file must end in .kml or .kmz")
    with _store(args) as store:
        _require_incident(store, args.incident)
        geo = read_geo_incident(store, args.incident)
    write_kml(geo, output)
    tracks = sum(1 for r in geo.responders if r.positions)
    print(
        f"wrote {output}: {tracks} responder tracks, "
        f"{sum(len(r.positions) for r in geo.responders)} positions, {len(geo.warnings)} warnings",
        file=out,
    )
    return 0


def cmd_export_eido(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.feeds.eido import incident_eido

    with _store(args) as store:
        _require_incident(store, args.incident)
        document = incident_eido(store, args.incident, _instant(store, args.incident, args.at))
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if args.output is None:
        out.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: EIDO {document['eidoVersion']} of {args.incident}", file=out)
    return 0


def cmd_export_geojson(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.replay.geo_export import (
        geojson_document,
        read_geo_incident,
        write_geojson,
    )

    with _store(args) as store:
        _require_incident(store, args.incident)
        geo = read_geo_incident(store, args.incident)
    write_geojson(geo, args.output)
    print(f"wrote {args.output}: {len(geojson_document(geo)['features'])} features", file=out)
    return 0


def cmd_import_roster(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.importers.roster_csv import load_roster

    report = load_roster(args.file)
    with _store(args) as store:
        store.replace_roster(report.imported)
        _audit(store, ev.RosterImported(str(args.file), len(report.imported), len(report.rejected)))
    for line in report.lines():
        print(line, file=out)
    print(f"{args.file}: {report.summary()}", file=out)
    return 0 if report.imported or not report.rejected else EXIT_ERROR


def _audit(store: Store, payload: ev.Payload) -> None:
    store.append([ev.EventDraft(None, store._clock(), _admin(), ev.Source.IMPORT, payload)])


def cmd_incidents(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.replay.portable import untrusted_incidents

    with _store(args) as store:
        incidents = store.incidents()
        untrusted = untrusted_incidents(store)
        where = _where(store)
    elsewhere = _demo_note(args)
    if not incidents:
        print(f"no incidents in {where}", file=out)
        if elsewhere:
            print(elsewhere, file=out)
        return 0
    rows = [
        (
            i.incident_id,
            i.school_name,
            i.incident_type.replace("_", " "),
            i.status.replace("_", " ")
            + (" [EXERCISE]" if i.exercise else "")
            + (" [UNTRUSTED IMPORT]" if i.incident_id in untrusted else ""),
            iso(i.opened_at_us),
            str(i.event_count),
        )
        for i in incidents
    ]
    _table(out, ("INCIDENT", "SCHOOL", "TYPE", "STATUS", "OPENED", "EVENTS"), rows)
    if elsewhere:
        print(elsewhere, file=out)
    return 0


def cmd_export_incident(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.replay.portable import export_incident
    from dispatch_console.store.chain import CentreKey

    with _store(args) as store:
        result = export_incident(store, args.incident, args.output, signing_key=CentreKey())
    flag = " [EXERCISE]" if result.exercise else ""
    print(
        f"wrote {result.path}: incident {result.incident_id}{flag}, {result.events} events, "
        f"{result.status.replace('_', ' ')}, {result.bytes:,} bytes",
        file=out,
    )
    return 0


def cmd_import_incident(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.replay.portable import import_file

    with _store(args) as store:
        _trust_own_key(store)
        result = import_file(store, args.file, untrusted=args.untrusted)
    flag = " [EXERCISE]" if result.exercise else ""
    trust = (
        f"; signed by {result.signer}"
        if result.signer is not None
        else "; UNTRUSTED: not signed by a trusted key, marked so"
    )
    if result.already_imported:
        print(f"incident {result.incident_id}{flag} is here already, same events{trust}", file=out)
        return 0
    added = ", its school added" if result.school_added else ""
    print(
        f"imported incident {result.incident_id}{flag}: {result.stored} events{added}{trust} "
        "(replay: dispatch-console replay INCIDENT)",
        file=out,
    )
    return 0


def _trust_own_key(store: Store) -> None:
    """This centre trusts its own signing key, where the key is (its files import here)."""
    from dispatch_console.store.chain import CentreKey

    try:
        key = CentreKey(create=False)
    except (FileNotFoundError, PermissionError, ValueError):
        return
    store.trust_key(key.public, "this centre")


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store.chain import advance_witness, read_witness, verify_chain

    witness = None
    if args.witness is not None:
        try:
            witness = read_witness(Path(args.witness))
        except ValueError as bad:
            raise CliError(str(bad)) from None
    with _store(args) as store:
        if args.incident is not None:
            _require_incident(store, args.incident)
        result = verify_chain(store, witness=witness)
        if args.witness is not None and result.ok:
            witness = advance_witness(Path(args.witness), store)
    scope = f"incident {args.incident} in " if args.incident else ""
    first = result.first_break(args.incident)
    anchored = (
        f"signed checkpoints up to event {result.anchored_seq}"
        if result.anchored_seq
        else "NO signed checkpoint yet (a rewrite of the whole chain would not be seen: "
        "run dispatch-console checkpoint where the centre's key is)"
    )
    for problem in result.problems:
        print(f"PROBLEM: {problem}", file=out)
    if first is not None:
        print(f"TAMPERED: {scope}the event log breaks at {first.describe()}", file=out)
        others = [b for b in result.breaks if b is not first]
        for more in others[:10]:
            print(f"  also: {more.describe()}", file=out)
        return EXIT_TAMPERED
    if result.problems:
        return EXIT_TAMPERED
    unchained = f"; {result.unchained} older events carry no hash" if result.unchained else ""
    if result.snapshots:
        unchained += f"; {result.snapshots} snapshots match their events"
    if witness is not None:
        unchained += f"; reaches {witness.describe()}"
    elsewhere = f" (elsewhere in the log: {result.breaks[0].describe()})" if result.breaks else ""
    print(
        f"OK: {scope}{redact(store.url)}: {result.events} events, chain intact up to event "
        f"{result.last_seq}, {anchored}{unchained}{elsewhere}",
        file=out,
    )
    return EXIT_TAMPERED if result.breaks else 0


def cmd_checkpoint(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store.chain import CentreKey

    key = CentreKey()
    with Store(args.db, signing_key=key) as store:
        seq = store.sign_checkpoint()
    if seq == 0:
        print("nothing stored yet: no checkpoint", file=out)
    else:
        print(f"signed checkpoint at event {seq} with key {key.key_id} ({key.path})", file=out)
    return 0


def cmd_signing_key(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store.chain import CentreKey, public_text

    key = CentreKey()
    print(f"{public_text(key.public)}  (key id {key.key_id}; private key in {key.path})", file=out)
    return 0


def cmd_trust_add(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store.chain import key_id, parse_public

    try:
        public = parse_public(args.key)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with _store(args) as store:
        added = store.trust_key(public, args.label)
    kid = key_id(public)
    print(f"{'trusted' if added else 'already trusted'}: key {kid} ({args.label})", file=out)
    return 0


def cmd_trust_list(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        keys = store.trusted_keys()
    if not keys:
        print("no trusted keys", file=out)
        return 0
    _table(
        out, ("KEY ID", "LABEL", "ADDED"), [(k.key_id, k.label, iso(k.added_at_us)) for k in keys]
    )
    return 0


def cmd_events(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        _require_incident(store, args.incident)
        events = store.read(args.incident, types=args.types)
        if args.format == "jsonl":
            encoder = msgspec.json.Encoder()
            for event in events:
                out.write(encoder.encode(ev.event_to_dict(event)).decode() + "\n")
            return 0
        rows = [
            (
                str(e.seq),
                iso(e.occurred_at_us),
                iso(e.received_at_us),
                str(e.actor),
                e.source.value,
                e.type,
                _short(ev.payload_to_dict(e.payload)),
            )
            for e in events
        ]
    _table(out, ("SEQ", "EVENT TIME", "RECEIVED", "ACTOR", "SOURCE", "TYPE", "PAYLOAD"), rows)
    return 0


def cmd_state(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        _require_incident(store, args.incident)
        at_us = _instant(store, args.incident, args.at)
        state = store.state_at(args.incident, at_us)
        now_us = at_us if at_us is not None else max(state.last_received_at_us, store._clock())
        roles = store.user_roles(state.acted)  # who acted as IC in an older record
    if args.format == "json":
        json.dump(state_document(state, now_us, roles), out, indent=2, sort_keys=False)
        out.write("\n")
    else:
        write_state_text(state, now_us, out, roles)
    return 0


def cmd_ics211(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.app.ics211 import (
        TimeFormat,
        build_ics211,
        first_positions,
        print_time_format,
        write_csv,
    )

    output = Path(args.output)
    kind = output.suffix.lower()
    if kind not in (".csv", ".pdf"):
        raise CliError(f"-o {args.output!r}: the file must end in .csv or .pdf")
    with _store(args) as store:
        _require_incident(store, args.incident)
        at_us = _instant(store, args.incident, args.at)
        state = store.state_at(args.incident, at_us)
        wall_us = store._clock()
        now_us = at_us if at_us is not None else max(state.last_received_at_us, wall_us)
        school = store.school(state.school_id) if state.school_id else None
        positions = store.read(
            args.incident, types=[ev.ResponderPosition.TYPE], until_received_us=at_us
        )
        departures = first_positions(positions)
        roles = store.user_roles(state.acted)  # who acted as IC in an older record
    options: dict[str, Any] = {
        "roles": roles,
        "school": school,
        "prepared_by": args.prepared_by,
        "position": args.position,
        "prepared_at_us": max(now_us, wall_us),
        "location": args.location,
        "departures": departures,
    }
    if kind == ".pdf":
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a file, never a window
        from dispatch_console.ui.print.ics211_pdf import write_ics211_pdf

        times = print_time_format(state, now_us)
        report = build_ics211(state, now_us, time_format=times, **options)
        pages = write_ics211_pdf(report, output)
        what = f"{pages} page{'s' if pages != 1 else ''}"
    else:
        report = build_ics211(state, now_us, time_format=TimeFormat(), **options)
        write_csv(report, output)
        what = "CSV"
    print(
        f"wrote {output} ({what}): {len(report.checked_in)} checked in, "
        f"{len(report.not_checked_in)} arrived but not checked in, as of {iso(now_us)}",
        file=out,
    )
    return 0


def cmd_example(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.app.example import START_US, SimClock, build_example
    from dispatch_console.domain.roster import Roster
    from dispatch_console.importers.geojson_schools import load_schools
    from dispatch_console.importers.roster_csv import load_roster
    from dispatch_console.resources import resource

    if args.db is None:
        args.db = str(_fresh_demo_database(DB_SHORTHANDS["example"]))
    report = load_schools(resource("example", "lincoln_hs.geojson"))
    school = next(s for s in report.imported if s.school_id == "lincoln-hs")
    roster = load_roster(resource("example", "roster.csv")).imported
    clock = SimClock(START_US)
    with Store(args.db, clock=clock) as store:
        store.upsert_schools(report.imported)
        store.replace_roster(roster)
        incident, refusals = build_example(store, school, Roster(roster), clock)
        print(f"Example incident {incident} written to {redact(store.url)}\n", file=out)
        for seconds in (30, 150, 270, 420):
            at_us = START_US + seconds * US_PER_S
            write_state_text(store.state_at(incident, at_us), at_us, out)
            print(file=out)
    for refusal in refusals:
        print(f"refused, as it should be: {refusal}", file=out)
    db = f" --db {args.db}" if getattr(args, "db_given", True) else " --db example"
    print(
        f"\nTry:\n  dispatch-console incidents{db}\n  dispatch-console events {incident}{db}\n"
        f"  dispatch-console state {incident} --at +240{db}",
        file=out,
    )
    return 0


def cmd_console(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.app.services import DEMO_SCENARIO, DemoPlan
    from dispatch_console.feeds.server import Listen
    from dispatch_console.launch.console import ConsoleOptions, run_console
    from dispatch_console.resources import resource
    from dispatch_console.ui.shell.user import User

    logging.getLogger("dispatch_console").setLevel(logging.INFO)
    demo = None
    listen = Listen(
        args.host,
        args.http_port,
        args.udp_port,
        args.tcp_port,
        udp_worker=False,
        cot_plaintext=args.cot_plaintext,
        cot_tls_port=args.cot_tls_port,
        ca_dir=args.ca_dir,
        insecure=args.insecure,
    )
    if args.demo:
        scenario = Path(args.scenario) if args.scenario else resource("scenarios", DEMO_SCENARIO)
        demo = DemoPlan(scenario, speed=args.speed)
        if args.db is None:
            args.db = str(_fresh_demo_database(DB_SHORTHANDS["demo"]))
            print(
                f"The demo's database: {args.db} (emptied at each start). From another "
                "terminal: .venv/bin/dispatch-console incidents --db demo",
                file=out,
            )
        # Never clashes with a gateway; the simulated devices send plain CoT (loopback only).
        listen = Listen(args.host, 0, 0, 0, udp_worker=False, insecure=args.insecure)
    from dispatch_console.store import accounts

    try:
        store = Store(args.db)  # a clear error now, rather than from a worker thread
    except StoreError as exc:
        if not accounts.pg_no_password(exc.__cause__ or exc):
            raise
        # No password from the URL, PGPASSWORD or ~/.pgpass: the sign-in dialog asks it.
        return _console_as_login_role(args, None, listen, demo)
    with store:
        if store.dialect == "postgresql":
            return _console_as_login_role(args, store.url, listen, demo)
        if args.demo and accounts.account(store, DEMO_ACCOUNT) is None:
            accounts.enroll(
                store, DEMO_ACCOUNT, "dispatcher", DEMO_PASSWORD, by=_admin(), demo=True
            )
        if not accounts.accounts(store):
            raise CliError(
                "nobody can sign in: this database has no console accounts (enrol one: "
                "dispatch-console users add NAME --role ROLE)"
            )
    if args.role is not None:
        log.warning("--role is ignored: the role is the one of the account you sign in to")
    options = ConsoleOptions(
        args.db,
        gateway=not args.no_gateway,
        listen=listen,
        demo=demo,
        roads=Path(args.roads) if args.roads else None,
        mbtiles=Path(args.mbtiles) if args.mbtiles else None,
        # Only a name to pre-fill: who it is, and the role, come from signing in.
        user=User(args.user or (DEMO_ACCOUNT if args.demo else ""), "observer"),
        theme=args.theme,
        quit_after_s=args.quit_after,
        sign_in=True,
        lock_after_s=args.lock_after * 60.0,
        witness=_console_witness(args),
    )
    return run_console(options)


def cmd_screenshot(args: argparse.Namespace, out: TextIO) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a picture, never a window
    from dispatch_console.launch.screenshot import render_demo_screenshot
    from dispatch_console.resources import resource

    width, _, height = args.size.partition("x")
    scenario = (
        Path(args.scenario) if args.scenario else resource("scenarios", "large_active_shooter.toml")
    )
    path = render_demo_screenshot(
        Path(args.output), scenario, at_s=args.at, size=(int(width), int(height)), theme=args.theme
    )
    print(f"wrote {path}", file=out)
    return 0


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.launch.replay import run_replay

    with _store(args) as store:
        _require_incident(store, args.incident)
        start_us = _instant(store, args.incident, args.at)
    return run_replay(
        args.db,
        args.incident,
        start_us=start_us,
        speed=args.speed,
        roads_file=Path(args.roads) if args.roads else None,
        theme=args.theme,
        quit_after_s=args.quit_after,
    )


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    output = Path(args.output)
    if output.suffix.lower() not in (".pdf", ".html", ".htm"):
        raise CliError(f"-o {args.output!r}: the file must end in .pdf or .html")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a file, never a window
    from dispatch_console.ui.print.report import write_report
    from dispatch_console.ui.replay.replay_window import incident_place, roads_for
    from dispatch_console.ui.shell.theme import THEMES

    with _store(args) as store:
        _require_incident(store, args.incident)
        place = incident_place(store, args.incident)
        roads_file = Path(args.roads) if args.roads else None
        stored = store.roads() if roads_file is None else []
        roads = roads_for(*place, roads_file, stored=stored) if place is not None else stored
        report = write_report(store, args.incident, output, roads=roads, theme=THEMES[args.theme])
    m = report.metrics
    what = f"{report.pages} pages" if report.pages else "HTML"
    flag = ", EXERCISE" if report.exercise else ""
    print(
        f"wrote {output} ({what}{flag}): {report.school_name}, {len(report.rows)} key events, "
        f"peak {m.peak_unidentified_inner} unidentified inside the inner perimeter, "
        f"exposure {m.exposure_person_minutes:.1f} person-minutes",
        file=out,
    )
    return 0


def _console_as_login_role(
    args: argparse.Namespace, url: str | None, listen: Any, demo: Any
) -> int:
    """PostgreSQL: the console's user is the login role the server authenticated (SCRAM), and
    its role the one the owner registered for it (``users add``). ``url``: connected already
    (the password came from the URL, ``PGPASSWORD`` or ``~/.pgpass``); None: no password was
    found, and the sign-in dialog asks it (with the name, if the URL has none)."""
    from sqlalchemy.engine import make_url

    from dispatch_console.launch.console import ConsoleOptions, run_console
    from dispatch_console.store import accounts
    from dispatch_console.ui.shell.user import User

    if url is not None:
        try:
            name, role = accounts.pg_login(url)
        except accounts.SignInRefused as exc:
            raise CliError(str(exc)) from None
    else:
        name, role = make_url(args.db).username or args.user or "", "observer"
    # The one-time code is asked by the console's sign-in dialog and checked by the database
    # (second_factor), which records the sign-in or its failure itself.
    options = ConsoleOptions(
        args.db,
        gateway=not args.no_gateway,
        listen=listen,
        demo=demo,
        roads=Path(args.roads) if args.roads else None,
        mbtiles=Path(args.mbtiles) if args.mbtiles else None,
        user=User(name, role),
        theme=args.theme,
        quit_after_s=args.quit_after,
        lock_after_s=args.lock_after * 60.0,
        postgres_session=True,
        postgres_password=url is None,
        witness=_console_witness(args),
    )
    return run_console(options)


def _console_witness(args: argparse.Namespace) -> Path | None:
    """The console's witness file (none for the demo, whose database is new at each start)."""
    from dispatch_console.store.chain import witness_path

    if args.demo:
        return None
    return (
        Path(args.witness)
        if args.witness
        else witness_path(normalize_url(args.db) if args.db else default_url(), "console")
    )


def _fresh_demo_database(name: str) -> Path:
    path = _demo_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def cmd_gateway(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.feeds.server import Listen, serve
    from dispatch_console.store.chain import CentreKey, Checkpointer

    if bool(args.tls_cert) != bool(args.tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    logging.getLogger("dispatch_console").setLevel(logging.INFO)
    from dispatch_console.feeds.ca import default_ca_dir

    try:
        for proxy in args.trusted_proxy:
            ipaddress.ip_network(proxy, strict=False)
    except ValueError as bad:
        raise CliError(f"--trusted-proxy: {bad}") from None
    ca_dir = None if args.no_cot_tls else str(args.ca_dir or default_ca_dir())
    listen = Listen(
        args.host,
        args.http_port,
        args.udp_port,
        args.tcp_port,
        args.tls_cert,
        args.tls_key,
        udp_worker=not args.no_udp_worker,
        trusted_proxies=tuple(args.trusted_proxy),
        cot_plaintext=args.cot_plaintext,
        cot_tls_port=args.cot_tls_port,
        ca_dir=ca_dir,
        insecure=args.insecure,
    )
    problem = listen.insecure_problem()
    if problem is not None:
        raise CliError(f"refusing to listen: {problem}; add --insecure to do it anyway")
    Store(args.db).close()  # a clear error now, rather than from the writer thread
    # The gateway holds the centre's signing key: it anchors the event log's hash chain with
    # a signed checkpoint every minute (issue 16).
    from dispatch_console.store.chain import witness_path

    witness = (
        Path(args.witness)
        if args.witness
        else witness_path(normalize_url(args.db) if args.db else default_url(), "gateway")
    )
    checkpoints = Checkpointer(args.db, CentreKey(), witness=witness)
    checkpoints.start()
    try:
        serve(args.db, listen, journal_path=args.journal)
    finally:
        checkpoints.stop()
    return 0


def cmd_keys_add(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.feeds.keys import SecretBox, new_key_material

    box = SecretBox()
    material = new_key_material(args.kind)
    with _store(args) as store:
        if args.kind == "school" and store.school(args.scope) is None:
            raise CliError(f"no school {args.scope!r} (import it first)")
        if args.kind == "device" and store.device(args.scope) is None:
            raise CliError(f"no registered device {args.scope!r} (dispatch-console devices add)")
        schools = _vendor_schools(store, args)
        store.add_key(material.key_id, args.kind, args.scope, box.seal(material.secret), args.label)
        if schools:
            store.set_vendor_schools(material.key_id, schools)
        _audit(store, ev.AccessChanged("key", "added", material.key_id, args.scope, args.kind))
    print(f"key id:  {material.key_id}", file=out)
    print(f"secret:  {material.secret}", file=out)
    print(
        "The secret is shown this once; give it to the sender now. It is stored sealed with "
        f"the master key {box.path}.",
        file=out,
    )
    return 0


def _vendor_schools(store: Store, args: argparse.Namespace) -> list[str]:
    """A vendor key's schools (``["*"]``: all); none for another kind of key."""
    if args.kind != "vendor":
        if args.schools or args.all:
            raise CliError("--schools and --all are for vendor keys")
        return []
    if args.all:
        return ["*"]
    ids = [s.strip() for s in (args.schools or "").split(",") if s.strip()]
    if not ids:
        raise CliError("a vendor key needs --schools ID,ID or --all")
    unknown = [s for s in ids if store.school(s) is None]
    if unknown:
        raise CliError(f"no school {', '.join(map(repr, unknown))} (import it first)")
    return ids


def cmd_keys_list(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        rows = [
            (
                k.key_id,
                k.kind,
                k.scope,
                k.label or "",
                iso(k.created_at_us),
                iso(k.revoked_at_us) if k.revoked_at_us else "active",
            )
            for k in store.api_keys()
        ]
        where = _where(store)
    if not rows:
        print(f"no API keys in {where}", file=out)
        return 0
    _table(out, ("KEY", "KIND", "FOR", "LABEL", "CREATED", "REVOKED"), rows)
    return 0


def cmd_keys_revoke(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        key = store.key(args.key_id)
        store.revoke_key(args.key_id)
        _audit(store, ev.AccessChanged("key", "revoked", args.key_id, key.scope if key else None))
    print(f"revoked {args.key_id}", file=out)
    return 0


def _admin() -> ev.Actor:
    """The one actor of every administration audit event (users, keys, devices, roster):
    ``cli:<operating-system user>`` as a *system* actor. The command line is not a signed-in
    console user (it passes no console sign-in), so it never wears a console user's label."""
    who = _os_user()
    return ev.Actor(ev.ActorKind.SYSTEM, f"{CLI_ACTOR_NAME}:{who or 'unknown'}"[:200])


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password (at least 12 characters): ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store import accounts

    password = _read_password(args.password_stdin)
    secret: str | None
    with _store(args) as store:
        if store.dialect == "postgresql":  # a login role of its own; the server checks it
            from dispatch_console.store.pgroles import create_login

            accounts.check_new_password(password)
            secret = create_login(store.url, args.name.strip(), args.role, password)
            accounts.audit_pg_login(store, args.name.strip(), args.role, by=_admin())
            print(
                f"login role {args.name.strip()!r} created in the {args.role} group; it signs "
                "in to PostgreSQL with its password (SCRAM-SHA-256) and a one-time code the "
                "database checks",
                file=out,
            )
        else:
            secret = accounts.enroll(store, args.name, args.role, password, by=_admin())
    assert secret is not None
    print(f"enrolled {args.name.strip()} as {args.role}", file=out)
    _show_secret(args.name.strip(), secret, out)
    return 0


def _show_secret(name: str, secret: str, out: TextIO) -> None:
    from dispatch_console.store import accounts

    print(
        "Scan this with the user's authenticator app (shown once; it is their second factor):",
        file=out,
    )
    out.write(accounts.terminal_qr(accounts.provisioning_uri(name, secret)))
    print(f"or enter the secret by hand: {secret}", file=out)


def cmd_users_new_code(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store import accounts

    with _store(args) as store:
        if store.dialect == "postgresql":
            from dispatch_console.store.pgroles import new_second_factor

            secret = new_second_factor(store.url, args.name)
        else:
            secret = accounts.new_second_factor(store, args.name)
        accounts.audit_new_code(store, args.name, by=_admin())
    print(f"new one-time-code secret for {args.name} (the old one no longer works)", file=out)
    _show_secret(args.name, secret, out)
    return 0


def cmd_users_pg_roles(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store.pgroles import setup_roles

    with _store(args) as store:
        if store.dialect != "postgresql":
            raise CliError("pg-roles is for PostgreSQL (SQLite has local accounts: users add)")
        setup_roles(store.url)
    print("group roles, grants and row-level security set", file=out)
    return 0


def cmd_users_add_gateway(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store import accounts
    from dispatch_console.store.pgroles import create_gateway_login

    password = _read_password(args.password_stdin)
    with _store(args) as store:
        if store.dialect != "postgresql":
            raise CliError("add-gateway is for PostgreSQL (on SQLite the gateway is local)")
        accounts.check_new_password(password)
        create_gateway_login(store.url, args.name.strip(), password)
        _audit(
            store,
            ev.AccessChanged(
                "gateway",
                "added",
                args.name.strip(),
                None,
                "PostgreSQL login role in dc_gateway: it appends only the feeds' events",
            ),
        )
    print(f"login role {args.name.strip()!r} created in dc_gateway", file=out)
    return 0


def cmd_users_list(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store import accounts

    with _store(args) as store:
        rows = [
            (
                a.name,
                a.role,
                "LOCKED" if a.locked else ("demo (no second factor)" if a.demo else "active"),
                str(a.failures),
            )
            for a in accounts.accounts(store)
        ]
    if not rows:
        print("no accounts (see: dispatch-console users add)", file=out)
        return 0
    _table(out, ("NAME", "ROLE", "STATE", "FAILED SIGN-INS"), rows)
    return 0


def cmd_users_unlock(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store import accounts

    with _store(args) as store:
        if store.dialect == "postgresql":
            from dispatch_console.store.pgroles import unlock_login

            if not unlock_login(store.url, args.name):
                raise CliError(f"no login role {args.name!r} with a second factor")
            accounts.audit_unlocked(store, args.name, by=_admin())
        else:
            accounts.unlock(store, args.name, by=_admin())
    print(f"unlocked {args.name}", file=out)
    return 0


def cmd_users_role(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.store import accounts

    with _store(args) as store:
        accounts.set_role(store, args.name, args.role, by=_admin())
    print(f"{args.name} is now {args.role}", file=out)
    return 0


def _print_rules(store: Store, out: TextIO) -> None:
    from dispatch_console.domain.rules import DEFAULT_RULES

    in_force = store.agency_rules()
    shown = sorted(in_force.values(), key=lambda r: r.agency) or [DEFAULT_RULES]
    for rules in shown:
        lines = rules.summary()
        print(lines[0], file=out)
        for line in lines[1:]:
            print(f"  {line}", file=out)


def cmd_rules_load(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.domain.rules import MAX_RULES_BYTES, parse_rules

    data = args.file.read_bytes()[: MAX_RULES_BYTES + 1]
    rules = parse_rules(data, source=str(args.file))
    with _store(args) as store:
        added = store.load_agency_rules(rules, data.decode("utf-8"))
    said = "loaded" if added else "already loaded:"
    print(f"{said} {rules.agency} rules version {rules.version}", file=out)
    for line in rules.summary()[1:]:
        print(f"  {line}", file=out)
    return 0


def cmd_rules_show(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        _print_rules(store, out)
    return 0


def cmd_gate_release(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.service import IncidentService

    with _store(args) as store:
        service = IncidentService(store)
        state = service.state(args.incident)
        agency = next(
            (a for a in state.gates if a.casefold() == args.agency.casefold()), args.agency
        )
        service.execute(
            args.incident,
            [ev.AlertGateReleased(agency)],
            actor=ev.Actor(ev.ActorKind.CONSOLE_USER, args.by),
            source=ev.Source.CONSOLE,
        )
    print(f"released the held alert of {agency} in {args.incident}", file=out)
    return 0


def cmd_devices_invite(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.feeds.web.routes import (
        INVITE_TTL_S,
        new_invite_token,
        token_hash,
    )

    url = _invite_url(args.url, args.insecure)
    token = new_invite_token()
    with _store(args) as store:
        expires = store._clock() + INVITE_TTL_S * 1_000_000
        store.add_invite(args.device_id, token_hash(token), expires)
    # The token rides in the fragment: a browser never sends it in a request line or a log.
    link = f"{url}/r/#invite={token}"
    print(f"one-time enrolment link for {args.device_id} (expires on use or in 24 h):", file=out)
    print(link, file=out)
    if not args.no_qr:
        import segno

        segno.make(link, error="m").terminal(out=out, compact=True)
    return 0


def _gateway_speaks(host: str, port: int) -> str | None:
    """What the gateway at ``host:port`` speaks: ``"http"``, ``"https"`` (its certificate is
    not judged here: only what the link must say), or None (nothing answers). Plain HTTP is
    asked first, so a plain gateway sees an ordinary health check, never a TLS hello it would
    log as a malformed request."""
    import socket
    import ssl

    request = f"GET /v1/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection((host, port), timeout=3) as raw:
            raw.sendall(request.encode("ascii"))
            if raw.recv(5) == b"HTTP/":
                return "http"
    except OSError:
        return None  # nothing there (yet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=3) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return "https"
    except (OSError, ssl.SSLError):
        return None


def _invite_url(given: str, insecure: bool) -> str:
    """The gateway's address as an invite link starts: https:// whenever the gateway serves
    TLS there; a plain http:// link only on loopback (a browser on this machine), since a phone
    at any other address gets no WebCrypto, Geolocation or service workers without HTTPS."""
    from urllib.parse import urlsplit

    from dispatch_console.feeds.server import _loopback

    text = given.strip().rstrip("/")
    if text.endswith("/r"):  # the page's own address given: the link adds /r/ itself
        text = text[: -len("/r")]
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"--url {given!r}: expected https://NAME:PORT, the gateway as phones reach it"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as bad:
        raise CliError(f"--url {given!r}: {bad}") from None
    url = parts.geturl()
    speaks = _gateway_speaks(parts.hostname, port)
    if parts.scheme == "https":
        if speaks == "http":
            print(
                f"WARNING: the gateway at {parts.netloc} answers plain HTTP, not HTTPS: this "
                "link will not open until it runs with --tls-cert/--tls-key",
                file=sys.stderr,
            )
        return url
    if speaks == "https":
        url = parts._replace(scheme="https").geturl()
        print(
            f"note: the gateway at {parts.netloc} serves HTTPS: the link starts {url}",
            file=sys.stderr,
        )
        return url
    if _loopback(parts.hostname):
        print(
            f"note: an http:// link at {parts.hostname} opens only in a browser on this "
            "machine; a phone needs --url https://NAME:PORT (gateway --tls-cert/--tls-key)",
            file=sys.stderr,
        )
        return url
    problem = (
        f"{url} is plain HTTP at an address other than loopback: a phone's browser gives no "
        "WebCrypto, Geolocation or service workers there, so the page cannot enrol. Serve the "
        "gateway over HTTPS (--tls-cert/--tls-key; devices web-cert makes a certificate) and "
        "give --url https://NAME:PORT"
    )
    if not insecure:
        raise CliError(f"refusing: {problem}; --insecure prints it anyway")
    print(f"WARNING: {problem}.", file=sys.stderr)
    return url


def cmd_devices_web_cert(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.domain.text import identifier_problem
    from dispatch_console.feeds.ca import CaError, CertificateAuthority

    for name in args.names:
        problem = identifier_problem(name, "NAME", 253)
        if problem is not None:
            raise CliError(problem)
    authority = CertificateAuthority(args.ca_dir)
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        cert, key = authority.issue_web_server(tuple(args.names), args.output, args.days)
    except CaError as failed:
        raise CliError(str(failed)) from None
    print(f"server certificate for {', '.join(args.names)}: {cert}", file=out)
    print(f"its private key: {key}", file=out)
    print(f"phones install the console's authority once: {authority.ca_pem}", file=out)
    print(f"run: dispatch-console gateway --tls-cert {cert} --tls-key {key} ...", file=out)
    return 0


def cmd_devices_add(args: argparse.Namespace, out: TextIO) -> int:
    home = None
    if args.home:
        try:
            lat_text, lon_text = args.home.split(",")
            lat, lon = float(lat_text), float(lon_text)
            ev.check_lat_lon(lat, lon)
        except ValueError as exc:
            raise CliError(f"--home {args.home!r}: expected LAT,LON in degrees ({exc})") from None
        home = (lon, lat)
    with _store(args) as store:
        device = store.add_device(args.device_id, tak_uid=args.tak_uid, label=args.label, home=home)
        detail = f"TAK uid {device.tak_uid}" if device.tak_uid else None
        _audit(store, ev.AccessChanged("device", "registered", device.device_id, None, detail))
    print(
        f"registered {device.device_id}"
        + (f" (TAK uid {device.tak_uid})" if device.tak_uid else ""),
        file=out,
    )
    return 0


def cmd_devices_list(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        rows = [
            (
                d.device_id,
                d.tak_uid or "",
                d.label or "",
                f"{d.home_lat:.5f},{d.home_lon:.5f}" if d.home_lat is not None else "",
                iso(d.last_at_us) if d.last_at_us else "never",
            )
            for d in store.devices()
        ]
        where = _where(store)
    if not rows:
        print(f"no registered devices in {where}", file=out)
        return 0
    _table(out, ("DEVICE", "TAK UID", "LABEL", "HOME", "LAST POSITION"), rows)
    return 0


def cmd_devices_remove(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        store.remove_device(args.device_id)
        removed = ev.AccessChanged("device", "removed", args.device_id, None, "its keys revoked")
        _audit(store, removed)
    print(f"removed {args.device_id}", file=out)
    return 0


def cmd_devices_enroll(args: argparse.Namespace, out: TextIO) -> int:
    from dispatch_console.domain.text import identifier_problem
    from dispatch_console.feeds.ca import CertificateAuthority
    from dispatch_console.feeds.identity import CERTIFICATE
    from dispatch_console.feeds.keys import SecretBox

    if not 1 <= args.days <= 3650:
        raise CliError("--days must be between 1 and 3650")
    problem = identifier_problem(args.host, "--host", 253)
    if problem is not None:
        raise CliError(problem)
    authority = CertificateAuthority(args.ca_dir)
    with _store(args) as store:
        device = store.device(args.device_id)
        if device is None:
            raise CliError(f"no registered device {args.device_id!r} (devices add)")
        if not device.tak_uid:
            raise CliError(
                f"{args.device_id} has no TAK uid: register it with --tak-uid (remove and add)"
            )
        authority.ensure()
        issued = authority.issue_device(device.device_id, days=args.days)
        fingerprint = issued.fingerprint
        enrolment = authority.enrol(issued, args.host, args.port, args.output)
        store.add_key(
            issued.key_id,
            CERTIFICATE,
            device.device_id,
            SecretBox().seal(fingerprint),
            f"certificate, valid {args.days} days",
        )
        _audit(
            store,
            ev.AccessChanged(
                "certificate", "enrolled", issued.key_id, device.device_id, f"SHA-256 {fingerprint}"
            ),
        )
    print(
        f"enrolled {device.device_id} (TAK uid {device.tak_uid}): certificate {issued.key_id}",
        file=out,
    )
    print(f"  {enrolment.data_package}  data package: import it in ATAK", file=out)
    print(f"  {enrolment.p12}  client certificate; {enrolment.truststore}  trust store", file=out)
    print(f"  password of both .p12 files (shown once): {enrolment.password}", file=out)
    print(f"  {enrolment.qr_png}  QR code of the connection: {enrolment.connection}", file=out)
    print(f"Revoke with: dispatch-console keys revoke {issued.key_id}", file=out)
    return 0


def cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    """``simulate SCENARIO (--db URL | --gateway URL --keys FILE) [--speed X] [--seed N]``:
    the simulator's own parser reads the rest (docs/scenarios.md)."""
    from dispatch_console.app.demo_ic import act_payloads
    from dispatch_console.sim.run import main as simulate

    return simulate(args.rest, acts=act_payloads)


def cmd_rejections(args: argparse.Namespace, out: TextIO) -> int:
    with _store(args) as store:
        rows = [
            (iso(r.at_us), r.transport, r.sender, r.reason, r.excerpt[:80])
            for r in store.rejections(args.limit)
        ]
        where = _where(store)
    if not rows:
        print(f"no rejected messages in {where}", file=out)
        return 0
    _table(out, ("TIME", "VIA", "SENDER", "REASON", "EXCERPT"), rows)
    return 0


# --- helpers -----------------------------------------------------------------------------------


#: ``--db`` shorthands for the databases the demo commands make (in the user data directory).
DB_SHORTHANDS = {"demo": "demo-console.sqlite3", "example": "example.sqlite3"}


def _demo_path(name: str) -> Path:
    from platformdirs import user_data_path

    return user_data_path("dispatch-console", appauthor=False) / name


def _resolve_db(db: str | None) -> str | None:
    """``--db demo``: the database of the demo console (``make run``); ``--db example``: the
    example incident's (``dispatch-console example``); anything else as given."""
    shorthand = DB_SHORTHANDS.get(db or "")
    return str(_demo_path(shorthand)) if shorthand is not None else db


def _where(store: Store) -> str:
    """The database a command read, as a newcomer can find it: the file for SQLite."""
    url = store.url
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else redact(url)


def _demo_incidents(incident_id: str | None = None) -> int:
    """How many incidents (or whether ``incident_id``) the demo console's database holds."""
    path = _demo_path(DB_SHORTHANDS["demo"])
    if not path.exists():
        return 0
    try:
        with Store(str(path)) as demo:
            if incident_id is not None:
                return int(demo.has_incident(incident_id))
            return len(demo.incidents())
    except (StoreError, OSError):
        return 0  # a note only: never fail a command over the demo's database


def _demo_note(args: argparse.Namespace) -> str:
    """Where the demo console's incidents are, when the command read another database."""
    if getattr(args, "db_given", True):
        return ""
    n = _demo_incidents()
    if not n:
        return ""
    path = _demo_path(DB_SHORTHANDS["demo"])
    return (
        f"The demo console (make run) keeps its {n} incident{'s' if n != 1 else ''} in {path}: "
        "add --db demo (e.g. dispatch-console incidents --db demo)."
    )


def _require_incident(store: Store, incident_id: str) -> None:
    if store.has_incident(incident_id):
        return
    hint = "see: dispatch-console incidents"
    if store.url == default_url() and _demo_incidents(incident_id):
        hint = "it is in the demo console's database: add --db demo"
    raise CliError(f"no incident {incident_id!r} in {_where(store)} ({hint})")


def _instant(store: Store, incident_id: str, text: str | None) -> int | None:
    if text is None:
        return None
    if text.startswith("+"):
        try:
            seconds = float(text[1:])
        except ValueError:
            raise CliError(f"--at {text!r}: expected +SECONDS, e.g. +90") from None
        if not 0 <= seconds <= MAX_OFFSET_S:  # also refuses nan and inf
            raise CliError(f"--at {text!r}: seconds must be between 0 and {MAX_OFFSET_S:.0f}")
        first = next(store.read(incident_id), None)
        assert first is not None
        return first.received_at_us + int(seconds * US_PER_S)
    try:
        at_us = parse_iso(text)
        if not 0 <= at_us < 2**62:
            raise ValueError(f"{text!r} is out of range")
        return at_us
    except (ValueError, OverflowError) as exc:
        raise CliError(f"--at: {exc} (use e.g. 2026-11-24T09:20:00Z or +90)") from None


def state_document(
    state: IncidentState, now_us: int, roles: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The JSON form of ``state``: the state itself plus the figures derived at ``now_us``;
    with ``roles`` (console user -> registered role), who acted as incident commander where
    nobody established command (an older record), as the text form says it."""
    document: dict[str, Any] = msgspec.to_builtins(state)
    document["at"] = iso(now_us)
    document["acting_commanders"] = [
        {"name": a.name, "first_acted": iso(a.first_us), "last_acted": iso(a.last_us),
         "acts": a.acts, "sentence": acting_commander_text([a], iso)}
        for a in state.acting_commanders(roles or {})
    ]  # fmt: skip
    document["counts"] = state.counts(now_us)
    document["responder_rows"] = [msgspec.to_builtins(row) for row in responder_rows(state, now_us)]
    return document


def write_state_text(
    state: IncidentState, now_us: int, out: TextIO, roles: Mapping[str, str] | None = None
) -> None:
    """The state as text; ``roles`` (console user -> registered role) names who acted as
    incident commander where nobody established command (an older record)."""
    if not state.opened:
        print(f"{state.incident_id}: not opened yet at {iso(now_us)}", file=out)
        return
    elapsed = format_duration(now_us - state.opened_at_us)
    flag = "  *** EXERCISE ***" if state.exercise else ""
    print(
        f"{state.school_name} · {state.incident_type.replace('_', ' ').upper()} · "
        f"{state.status.replace('_', ' ')} · {iso(now_us)} (+{elapsed}){flag}",
        file=out,
    )
    c = state.counts(now_us)
    print(
        f"notified {c['notified']} · acknowledged {c['acknowledged']} · declined "
        f"{c['declined']} · en route {c['en_route']} · on scene {c['on_scene']} · at staging "
        f"{c['at_staging']} · identified {c['identified']} · staged {c['staged']} · assigned "
        f"{c['assigned']} · ARRIVED NOT CHECKED IN {c['arrived_not_checked_in']} · "
        f"self-dispatched {c['self_dispatched']}",
        file=out,
    )
    unacked = [a for a in state.alerts.values() if a.acknowledged_at_us is None]
    for alert in unacked:
        print(f"ALERT NOT ACKNOWLEDGED: {alert.alert_type} at {alert.location_detail}", file=out)
    suspect = state.suspect
    if suspect:
        print(
            f"SUSPECT: {suspect.description.describe()} (rev {suspect.rev}, "
            f"+{format_duration(suspect.revised_at_us - state.opened_at_us)})",
            file=out,
        )
    if state.commander:
        post = f" (command post: {state.command_post})" if state.command_post else ""
        print(f"Incident commander: {state.commander}{post}", file=out)
    elif acting := state.acting_commanders(roles or {}):
        print(f"Incident commander: {acting_commander_text(acting, iso)}", file=out)
    else:
        print("Incident commander: command not established", file=out)
    rows = [
        (
            r.name,
            r.agency,
            r.status.label,
            "yes" if r.self_dispatched else "",
            r.duty,
            r.attire,
            r.roster,
            f"{r.distance_m:,.0f} m" if r.distance_m is not None else "",
            format_duration(int(r.eta_s * US_PER_S)) if r.eta_s else "",
            ("STALE " if r.stale else "") + format_duration(int(r.position_age_s * US_PER_S))
            if r.position_age_s is not None
            else "no position",
        )
        for r in responder_rows(state, now_us)
    ]
    _table(
        out,
        (
            "RESPONDER",
            "AGENCY",
            "STATUS",
            "SELF-DISP",
            "DUTY",
            "ATTIRE",
            "ROSTER",
            "TO SCHOOL",
            "ETA",
            "POSITION AGE",
        ),
        rows,
    )


def _table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    # Senders' text never reaches the terminal raw (an escape sequence, a bidi override).
    rows = [[neutralise(cell) for cell in row] for row in rows]
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in (header, *rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")


def _short(payload: dict[str, Any], limit: int = 90) -> str:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _os_user() -> str | None:
    """The operating-system user running this command (None where it cannot be told)."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def _log_traceback() -> Path:
    folder = user_log_path("dispatch-console", appauthor=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "cli-errors.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(traceback.format_exc() + "\n")
        return path
    except OSError:
        return Path("(log not writable)")


if __name__ == "__main__":
    sys.exit(main())
