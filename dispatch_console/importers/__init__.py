"""Importers for reference data: schools with pre-plans (GeoJSON) and agency rosters (CSV).

Each importer returns an :class:`ImportReport`: what was imported, in file order, and every
record it refused, skipped or took with a caveat, with where it is in the file and why. A file
that cannot be read as a whole raises :class:`ImportFileError` with one clear message.
"""

from dispatch_console.importers.geojson_schools import load_schools, parse_schools
from dispatch_console.importers.report import ImportFileError, ImportReport, Problem
from dispatch_console.importers.roster_csv import load_roster, parse_roster

__all__ = [
    "ImportFileError",
    "ImportReport",
    "Problem",
    "load_roster",
    "load_schools",
    "parse_roster",
    "parse_schools",
]
