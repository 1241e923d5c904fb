"""Schools and roads from the files county GIS offices deliver, read with GDAL (pyogrio).

Formats: GeoJSON (read by our own GeoJSON reader, unchanged), zipped shapefiles, a bare ``.shp``
(with its ``.dbf``/``.shx`` beside it), GeoPackage (``.gpkg``), file geodatabases (a ``.gdb``
folder, or zipped, where the wheel's GDAL has the OpenFileGDB driver) and Esri JSON (an ArcGIS
server's ``f=json`` answer). Every feature becomes a GeoJSON-shaped feature in the file's own CRS
and goes through the same checks as a GeoJSON feature (``schools_from_features`` /
``roads_from_features``): one code path, the same per-feature report (index, reason).

The CRS is the one the file declares (a shapefile's ``.prj``, a GeoPackage's ``srs_id``, an Esri
JSON ``spatialReference``), transformed to WGS84 with pyproj. A file that declares none is
refused, naming why, unless ``crs`` is given: we never guess where a school is.

Hostile input, as classes: a ZIP member whose name leaves the folder (``../x``, ``/etc/x``, a
drive letter) or is a link, more than ``MAX_ZIP_MEMBERS`` members, more than ``MAX_UNPACKED_BYTES``
unpacked (counted while unpacking, not trusted from the ZIP's header), a member that unpacks to
more than ``MAX_RATIO`` times its packed size (a zip bomb); a file larger than ``MAX_FILE_BYTES``
or with more than ``MAX_FEATURES`` features; text not in the file's encoding. Each is one
:class:`ImportFileError` line; nothing is stored.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pyproj import CRS
from pyproj.exceptions import CRSError

from dispatch_console.domain.reference import Road, School
from dispatch_console.importers._crs import WGS84, SourceCrs, _transformers
from dispatch_console.importers.geojson_schools import parse_schools, schools_from_features
from dispatch_console.importers.report import ImportFileError, ImportReport, Problem
from dispatch_console.importers.roads_geojson import parse_roads, roads_from_features

__all__ = [
    "GIS_SUFFIXES",
    "MAX_FEATURES",
    "MAX_FILE_BYTES",
    "MAX_RATIO",
    "MAX_UNPACKED_BYTES",
    "MAX_ZIP_MEMBERS",
    "load_gis_roads",
    "load_gis_schools",
]

T = TypeVar("T")

#: A county's schools file is kilobytes, its roads a few tens of megabytes.
MAX_FILE_BYTES = 1 << 30
MAX_UNPACKED_BYTES = 1 << 30
MAX_ZIP_MEMBERS = 10_000
#: A member may unpack to at most this many times its packed size (text compresses ~10x).
MAX_RATIO = 200
MAX_FEATURES = 2_000_000

GIS_SUFFIXES = (".geojson", ".json", ".zip", ".shp", ".gpkg", ".gdb", ".esrijson")
_DATASET_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".esrijson")
_CHUNK = 1 << 20


def load_gis_schools(
    path: str | Path,
    *,
    crs: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
) -> ImportReport[School]:
    """Schools (with pre-plans, as in GeoJSON) from any supported GIS file."""
    return _load(path, crs, layer, encoding, parse_schools, schools_from_features)


def load_gis_roads(
    path: str | Path,
    *,
    crs: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
) -> ImportReport[Road]:
    """Road centrelines from any supported GIS file."""
    return _load(path, crs, layer, encoding, parse_roads, roads_from_features)


# --- dispatch by format -----------------------------------------------------------------------


def _load(
    path: str | Path,
    crs: str | None,
    layer: str | None,
    encoding: str | None,
    parse_geojson: Callable[..., ImportReport[T]],
    from_features: Callable[..., ImportReport[T]],
) -> ImportReport[T]:
    path = Path(path)
    source = str(path)
    override = _override_crs(crs, source) if crs is not None else None
    if not path.exists():
        raise ImportFileError("no such file", source)
    if path.is_dir():
        if path.suffix.lower() != ".gdb":
            raise ImportFileError("a folder, not a file (a .gdb folder is a geodatabase)", source)
        return _read_ogr(path, source, override, layer, encoding, from_features)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImportFileError(
            f"the file is {size} bytes; at most {MAX_FILE_BYTES} are read", source
        )
    suffix = path.suffix.lower()
    if suffix == ".zip" or (zipfile.is_zipfile(path) and suffix not in (".gpkg",)):
        with _unzipped(path, source) as folder:
            dataset = _one_dataset(folder, layer, source)
            inner = f"{source}!{dataset.relative_to(folder).as_posix()}"
            return _read_path(
                dataset, inner, override, layer, encoding, parse_geojson, from_features
            )
    return _read_path(path, source, override, layer, encoding, parse_geojson, from_features)


def _read_path(
    path: Path,
    source: str,
    override: SourceCrs | None,
    layer: str | None,
    encoding: str | None,
    parse_geojson: Callable[..., ImportReport[T]],
    from_features: Callable[..., ImportReport[T]],
) -> ImportReport[T]:
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json", ".esrijson"):
        data = _read_bytes(path, source)
        if not _is_esri_json(data):
            if override is not None:
                raise ImportFileError(
                    "--crs is for files that declare no CRS; a GeoJSON file is WGS84 unless "
                    "its crs member says otherwise",
                    source,
                )
            return parse_geojson(data, source=source)
    elif suffix == ".shp":
        if override is None and not _sibling(path, ".prj"):
            raise ImportFileError(
                "the shapefile has no .prj file, so its coordinate system is unknown; "
                "give it with --crs (e.g. --crs EPSG:3089 for Kentucky single-zone feet)",
                source,
            )
    elif suffix not in (".gpkg", ".gdb"):
        raise ImportFileError(
            f"unsupported file type {suffix or '(no extension)'!r}; expected GeoJSON, a zipped "
            "shapefile, .shp, .gpkg, a .gdb folder or Esri JSON",
            source,
        )
    return _read_ogr(path, source, override, layer, encoding, from_features)


def _is_esri_json(data: bytes) -> bool:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False  # the GeoJSON reader says what is wrong with it
    if not isinstance(document, dict) or "type" in document:
        return False
    features = document.get("features")
    return isinstance(features, list) and (
        "geometryType" in document
        or "spatialReference" in document
        or any(isinstance(f, dict) and "attributes" in f for f in features[:1])
    )


def _read_bytes(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc.strerror or exc}", source) from None


def _sibling(path: Path, suffix: str) -> bool:
    wanted = (path.stem + suffix).lower()
    return any(p.name.lower() == wanted for p in path.parent.iterdir())


# --- ZIP files --------------------------------------------------------------------------------


@contextmanager
def _unzipped(path: Path, source: str) -> Iterator[Path]:
    """The ZIP unpacked into a private temporary folder, checked member by member."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(f"not a readable ZIP file: {exc}", source) from None
    folder = Path(tempfile.mkdtemp(prefix="dispatch-gis-"))
    try:
        with archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise ImportFileError(
                    f"the ZIP has {len(members)} members; at most {MAX_ZIP_MEMBERS} are read",
                    source,
                )
            budget = MAX_UNPACKED_BYTES
            for info in members:
                target = _member_path(info, folder, source)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                budget -= _unpack(archive, info, target, budget, source)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _member_path(info: zipfile.ZipInfo, folder: Path, source: str) -> Path:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ImportFileError(f"the ZIP member {name!r} is a link; refused", source)
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if (
        not parts
        or name.startswith(("/", "\\"))
        or ".." in parts
        or (parts and ":" in parts[0])
        or any("\x00" in p for p in parts)
    ):
        raise ImportFileError(
            f"the ZIP member {name!r} would be written outside its folder; refused", source
        )
    target = folder.joinpath(*parts)
    if not target.resolve().is_relative_to(folder.resolve()):
        raise ImportFileError(
            f"the ZIP member {name!r} would be written outside its folder; refused", source
        )
    return target


def _unpack(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, source: str
) -> int:
    limit = min(budget, max(info.compress_size, 1) * MAX_RATIO, MAX_UNPACKED_BYTES)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as src, target.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    why = (
                        f"unpacks to more than {MAX_RATIO} times its packed size (a zip bomb?)"
                        if limit < budget
                        else f"the ZIP unpacks to more than {MAX_UNPACKED_BYTES} bytes"
                    )
                    raise ImportFileError(
                        f"the ZIP member {info.filename!r} {why}; refused", source
                    )
                dst.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ImportFileError(f"cannot unpack {info.filename!r}: {exc}", source) from None
    return written


def _one_dataset(folder: Path, layer: str | None, source: str) -> Path:
    """The one dataset in an unpacked ZIP (a shapefile, GeoPackage, .gdb folder, JSON)."""
    found: list[Path] = []
    for path in sorted(folder.rglob("*")):
        if any(part.startswith("__MACOSX") for part in path.relative_to(folder).parts):
            continue
        if any(parent.suffix.lower() == ".gdb" for parent in path.relative_to(folder).parents):
            continue  # the files inside a geodatabase folder
        suffix = path.suffix.lower()
        if (path.is_dir() and suffix == ".gdb") or (path.is_file() and suffix in _DATASET_SUFFIXES):
            found.append(path)
    if not found:
        raise ImportFileError(
            "the ZIP holds no shapefile (.shp), GeoPackage, .gdb folder or JSON file", source
        )
    if len(found) > 1 and layer is not None:
        named = [p for p in found if p.stem == layer]
        if len(named) == 1:
            return named[0]
    if len(found) > 1:
        names = ", ".join(p.relative_to(folder).as_posix() for p in found[:10])
        raise ImportFileError(
            f"the ZIP holds {len(found)} datasets ({names}); name one with --layer", source
        )
    return found[0]


# --- GDAL -------------------------------------------------------------------------------------


def _override_crs(text: str, source: str) -> SourceCrs:
    try:
        return _source_crs(CRS.from_user_input(text), source)
    except CRSError:
        raise ImportFileError(f"--crs {text!r} is not a CRS pyproj knows", source) from None


def _source_crs(crs: CRS, source: str) -> SourceCrs:
    """WGS84 for lon/lat WGS84 (no transformation), else the CRS, named by its EPSG code."""
    code = crs.to_epsg(min_confidence=70)
    if code == 4326 or crs.equals(CRS.from_user_input("OGC:CRS84"), ignore_axis_order=True):
        return WGS84
    authority = f"EPSG:{code}" if code is not None else crs.to_wkt()
    label = f"EPSG:{code}" if code is not None else (crs.name or "the file's CRS")
    try:
        _transformers(authority)
    except Exception as exc:
        raise ImportFileError(f"cannot transform from {label} to WGS84: {exc}", source) from None
    return SourceCrs(authority, label)


def _read_ogr(
    path: Path,
    source: str,
    override: SourceCrs | None,
    layer: str | None,
    encoding: str | None,
    from_features: Callable[..., ImportReport[T]],
) -> ImportReport[T]:
    import pyogrio  # GDAL: imported only when a GIS file is read
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        layers = pyogrio.list_layers(path)
        chosen = _layer(layers, layer, source)
        info = pyogrio.read_info(path, layer=chosen, encoding=encoding)
        count = int(info.get("features") or 0)
        if count > MAX_FEATURES:
            raise ImportFileError(
                f"the layer has {count} features; at most {MAX_FEATURES} are read", source
            )
        meta, _fids, geometries, fields = pyogrio.raw.read(path, layer=chosen, encoding=encoding)
    except (DataSourceError, DataLayerError) as exc:
        raise ImportFileError(f"GDAL cannot read it: {_one_line(exc)}", source) from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"text in the file is not {exc.encoding} ({exc.reason}); give its encoding with "
            "--encoding (e.g. --encoding cp1252)",
            source,
        ) from None
    except (RuntimeError, ValueError, OSError) as exc:
        if isinstance(exc, ImportFileError):
            raise
        raise ImportFileError(f"GDAL cannot read it: {_one_line(exc)}", source) from None
    declared = meta.get("crs")
    warnings: list[Problem] = []
    if override is not None:
        crs = override
        if declared:
            warnings.append(
                Problem(None, f"the file declares {_label(declared)}; read as {crs.name} (--crs)")
            )
    elif declared:
        try:
            crs = _source_crs(CRS.from_user_input(declared), source)
        except CRSError:
            raise ImportFileError(f"cannot identify the CRS {_label(declared)!r}", source) from None
    else:
        raise ImportFileError(
            "the file declares no coordinate system; give it with --crs (e.g. --crs EPSG:3089)",
            source,
        )
    names = [str(n) for n in meta.get("fields", [])]
    features = [
        _feature(geometries[i] if geometries is not None else None, names, fields, i)
        for i in range(
            len(fields[0]) if fields else (len(geometries) if geometries is not None else 0)
        )
    ]
    if not features:
        raise ImportFileError("the layer has no features to import", source)
    report = from_features(features, crs, source=source)
    report.warnings[0:0] = warnings
    return report


def _layer(layers: Any, wanted: str | None, source: str) -> str:
    """The layer to read: ``wanted``, or the only one with geometry."""
    pairs = [(str(row[0]), row[1]) for row in layers]
    if wanted is not None:
        if wanted not in [name for name, _ in pairs]:
            raise ImportFileError(
                f"no layer {wanted!r}; the layers are {', '.join(n for n, _ in pairs)}", source
            )
        return wanted
    spatial = [name for name, kind in pairs if kind is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise ImportFileError("the file has no layer with geometry", source)
    raise ImportFileError(
        f"the file has {len(spatial)} layers with geometry ({', '.join(spatial[:10])}); "
        "name one with --layer",
        source,
    )


def _feature(wkb: Any, names: list[str], fields: Any, index: int) -> dict[str, Any]:
    properties = {name: _value(column[index]) for name, column in zip(names, fields, strict=True)}
    return {"type": "Feature", "properties": properties, "geometry": _geometry(wkb)}


def _geometry(wkb: Any) -> dict[str, Any] | None:
    import shapely
    from shapely.geometry import mapping

    if wkb is None:
        return None
    try:
        shape = shapely.from_wkb(wkb)
    except (shapely.errors.GEOSException, ValueError, TypeError):
        return {"type": "unreadable WKB"}
    if shape is None or shape.is_empty:
        return None  # a shapefile's null shape: skipped, as GeoJSON's "geometry": null
    if shape.geom_type == "MultiPoint" and len(shape.geoms) == 1:
        shape = shape.geoms[0]
    result: dict[str, Any] = json.loads(json.dumps(mapping(shape)))  # tuples to lists
    return result


def _value(value: Any) -> Any:
    """A field value as JSON would hold it (numpy scalars unwrapped, NaN as no value)."""
    if value is None:
        return None
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, float) and not math.isfinite(item):
        return None
    if isinstance(item, bytes):
        return None  # a binary field: not text
    if isinstance(item, _dt.datetime | _dt.date | _dt.time):
        return item.isoformat()
    if isinstance(item, int) and not isinstance(value, int | bool) and str(value) == "NaT":
        return None
    return item


def _label(declared: str) -> str:
    try:
        crs = CRS.from_user_input(declared)
    except CRSError:
        return declared[:80]
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code is not None else crs.name


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
