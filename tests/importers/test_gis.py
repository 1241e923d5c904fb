"""County GIS files through GDAL (pyogrio): zipped shapefiles, GeoPackages in a state-plane CRS,
Esri JSON, and the classes of hostile or odd input (traversing or bombing ZIPs, no CRS, null and
multipart geometries, wrong encodings). Every file the tests write is written here, in tmp_path.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer

from dispatch_console.domain.geometry import geodesic_distance_m
from dispatch_console.domain.reference import School
from dispatch_console.importers import ImportFileError, load_schools
from dispatch_console.importers.gis import MAX_RATIO, load_gis_roads, load_gis_schools

KY_FEET = "EPSG:3089"  # NAD83 / Kentucky Single Zone (ftUS)
TO_KY = Transformer.from_crs("EPSG:4326", KY_FEET, always_xy=True)


def _write(
    path: Path,
    shapes: list[shapely.Geometry | None],
    fields: dict[str, list[object]],
    *,
    crs: str | None = KY_FEET,
    driver: str = "GPKG",
    geometry_type: str = "Unknown",
    encoding: str | None = None,
) -> Path:
    geometry = np.array([None if s is None else shapely.to_wkb(s) for s in shapes], dtype=object)
    pyogrio.raw.write(
        path,
        geometry,
        [np.array(values, dtype=object) for values in fields.values()],
        fields=list(fields),
        geometry_type=geometry_type,
        crs=crs,
        driver=driver,
        encoding=encoding,
    )
    return path


def _ky(lon: float, lat: float) -> shapely.Point:
    return shapely.Point(*TO_KY.transform(lon, lat))


def _same_schools(a: list[School], b: list[School]) -> None:
    assert [s.school_id for s in a] == [s.school_id for s in b]
    for x, y in zip(a, b, strict=True):
        assert (x.name, x.address, x.classification) == (y.name, y.address, y.classification)
        assert geodesic_distance_m(x.lon, x.lat, y.lon, y.lat) < 0.01


# --- the real Scott County files and a GeoPackage in state-plane feet --------------------------


@pytest.mark.shared_data
def test_scott_county_shapefile_zip_geojson_and_state_plane_geopackage_agree(
    shared_data: Path, tmp_path: Path
) -> None:
    schools_dir = shared_data / "schools"
    from_geojson = load_gis_schools(schools_dir / "scott_county_ky_schools.geojson")
    assert from_geojson.summary() == "21 imported, 0 rejected, 0 skipped, 0 warnings"

    zipped = schools_dir / "scott_county_ky_schools-original_stateplane_shapefile.zip"
    from_zip = load_gis_schools(zipped)
    assert from_zip.summary() == "21 imported, 0 rejected, 0 skipped, 1 warning"
    assert from_zip.lines() == [
        f"{zipped}!schools-original.shp: warning: coordinates transformed from "
        "NAD83 / Kentucky North (ftUS) to WGS84"
    ]
    # The shapefile has no PHONE field; everything else is the same, to the centimetre.
    _same_schools(from_zip.imported, from_geojson.imported)

    # A GeoPackage written here in Kentucky single-zone feet, from the GeoJSON's schools.
    gpkg = _write(
        tmp_path / "schools.gpkg",
        [_ky(s.lon, s.lat) for s in from_geojson.imported],
        {
            "SCHOOL": [s.name for s in from_geojson.imported],
            "ADDRESS": [s.address for s in from_geojson.imported],
            "CLASSIFICA": [s.classification for s in from_geojson.imported],
        },
        geometry_type="Point",
    )
    from_gpkg = load_gis_schools(gpkg)
    assert from_gpkg.summary() == "21 imported, 0 rejected, 0 skipped, 1 warning"
    assert from_gpkg.warnings[0].reason == "coordinates transformed from EPSG:3089 to WGS84"
    _same_schools(from_gpkg.imported, from_geojson.imported)


def test_geojson_goes_through_the_geojson_reader_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "one.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Garth Elementary"},
                        "geometry": {"type": "Point", "coordinates": [-84.559, 38.206]},
                    },
                    {"type": "Feature", "properties": {}, "geometry": None},
                ],
            }
        )
    )
    assert load_gis_schools(path).lines() == load_schools(path).lines()
    assert load_gis_schools(path).summary() == "1 imported, 0 rejected, 1 skipped, 0 warnings"


# --- CRS ---------------------------------------------------------------------------------------


def _shapefile_zip(tmp_path: Path, *, prj: bool) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    _write(
        folder / "schools.shp",
        [_ky(-84.559, 38.206), _ky(-84.557, 38.1997)],
        {"NAME": ["Garth Elementary", "Georgetown Middle"]},
        driver="ESRI Shapefile",
        geometry_type="Point",
    )
    archive = tmp_path / "schools.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(folder.iterdir()):
            if prj or part.suffix != ".prj":
                zf.write(part, f"county/{part.name}")
    return archive


def test_a_shapefile_without_prj_is_refused_unless_crs_is_given(tmp_path: Path) -> None:
    archive = _shapefile_zip(tmp_path, prj=False)
    with pytest.raises(ImportFileError, match=r"no \.prj file.*--crs"):
        load_gis_schools(archive)
    report = load_gis_schools(archive, crs=KY_FEET)
    assert report.summary() == "2 imported, 0 rejected, 0 skipped, 1 warning"
    garth = report.imported[0]
    assert geodesic_distance_m(garth.lon, garth.lat, -84.559, 38.206) < 0.01


def test_crs_given_for_a_file_that_declares_one_overrides_it_with_a_warning(
    tmp_path: Path,
) -> None:
    archive = _shapefile_zip(tmp_path, prj=True)
    report = load_gis_schools(archive, crs="EPSG:3088")  # metres instead of feet: wrong on purpose
    assert report.warnings[0].reason == "the file declares EPSG:3089; read as EPSG:3088 (--crs)"
    with pytest.raises(ImportFileError, match="not a CRS pyproj knows"):
        load_gis_schools(archive, crs="EPSG:99999999")


def test_a_geopackage_in_wgs84_is_not_transformed(tmp_path: Path) -> None:
    gpkg = _write(
        tmp_path / "s.gpkg", [shapely.Point(-84.559, 38.206)], {"name": ["Garth"]}, crs="EPSG:4326"
    )
    report = load_gis_schools(gpkg)
    assert report.summary() == "1 imported, 0 rejected, 0 skipped, 0 warnings"
    assert (report.imported[0].lon, report.imported[0].lat) == (-84.559, 38.206)


# --- geometry and attributes ---------------------------------------------------------------------


def test_null_multipart_and_invalid_geometries_are_reported_by_index(tmp_path: Path) -> None:
    campus = shapely.box(*TO_KY.transform(-84.5600, 38.2050), *TO_KY.transform(-84.5580, 38.2068))
    bowtie = shapely.Polygon(
        [TO_KY.transform(*p) for p in [(-84.56, 38.20), (-84.55, 38.21), (-84.55, 38.20),
                                       (-84.56, 38.21), (-84.56, 38.20)]]
    )  # fmt: skip
    gpkg = _write(
        tmp_path / "odd.gpkg",
        [
            shapely.MultiPolygon([campus, shapely.box(*campus.buffer(500).bounds).difference(
                campus.buffer(400))]),
            None,
            bowtie,
            shapely.MultiPoint([_ky(-84.557, 38.1997)]),
            shapely.LineString([_ky(-84.55, 38.2), _ky(-84.54, 38.21)]),
            _ky(-84.57, 38.19),
        ],
        {"SCHOOL": ["Campus in two parts", "No shape", "Bow tie", "One-point multipoint",
                    "A line", None]},
    )  # fmt: skip
    report = load_gis_schools(gpkg)
    assert [s.name for s in report.imported] == ["Campus in two parts", "One-point multipoint"]
    assert report.imported[0].campus is not None
    assert [(p.index, p.reason.split(" at ")[0]) for p in report.rejected] == [
        (2, "polygon self-intersects"),
        (4, "a LineString cannot be a school location (expected Point or Polygon or MultiPolygon)"),
        (5, "missing name"),
    ]
    assert [p.index for p in report.skipped] == [1]


def test_a_wrong_encoding_is_named_and_the_right_one_can_be_given(tmp_path: Path) -> None:
    shp = _write(
        tmp_path / "s.shp",
        [_ky(-84.559, 38.206)],
        {"SCHOOL": ["École Sainte-Thérèse"]},
        driver="ESRI Shapefile",
        geometry_type="Point",
        encoding="cp1252",
    )
    (tmp_path / "s.cpg").write_text("UTF-8")  # the .cpg lies
    with pytest.raises(ImportFileError, match=r"not utf-8 .*--encoding"):
        load_gis_schools(shp)
    report = load_gis_schools(shp, encoding="cp1252")
    assert report.imported[0].name == "École Sainte-Thérèse"


def test_esri_json_from_an_arcgis_server(tmp_path: Path) -> None:
    x, y = TO_KY.transform(-84.559, 38.206)
    path = tmp_path / "query.json"
    path.write_text(
        json.dumps(
            {
                "geometryType": "esriGeometryPoint",
                "spatialReference": {"wkid": 3089, "latestWkid": 3089},
                "fields": [{"name": "SCHOOL", "type": "esriFieldTypeString"}],
                "features": [
                    {"attributes": {"SCHOOL": "Garth Elementary"}, "geometry": {"x": x, "y": y}},
                    {"attributes": {"SCHOOL": "No geometry"}, "geometry": None},
                ],
            }
        )
    )
    report = load_gis_schools(path)
    assert report.summary() == "1 imported, 0 rejected, 1 skipped, 1 warning"
    garth = report.imported[0]
    assert geodesic_distance_m(garth.lon, garth.lat, -84.559, 38.206) < 0.01


def test_roads_from_a_geopackage_layer(tmp_path: Path) -> None:
    gpkg = _write(
        tmp_path / "roads.gpkg",
        [
            shapely.LineString([_ky(-84.56, 38.20), _ky(-84.55, 38.21)]),
            shapely.MultiLineString(
                [[_ky(-84.56, 38.2), _ky(-84.56, 38.21)], [_ky(-84.55, 38.2), _ky(-84.54, 38.2)]]
            ),
            shapely.Point(_ky(-84.55, 38.2)),
        ],
        {"STREET_NAME": ["Main St", "US 25", "a point"], "highway": [None, None, "primary"]},
    )
    report = load_gis_roads(gpkg)
    assert [(r.road_id, r.name, r.road_class) for r in report.imported] == [
        ("feature-0", "Main St", "local"),
        ("feature-1/0", "US 25", "arterial"),
        ("feature-1/1", "US 25", "arterial"),
    ]
    assert [p.index for p in report.rejected] == [2]


# --- hostile files -----------------------------------------------------------------------------


def test_a_zip_member_outside_its_folder_is_refused(tmp_path: Path) -> None:
    for name in ("../evil.shp", "/etc/evil.shp", "C:/evil.shp", "a/../../evil.shp"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(name, b"x")
        with pytest.raises(ImportFileError, match="outside its folder; refused"):
            load_gis_schools(archive)
    assert not (tmp_path / "evil.shp").exists()


def test_a_zip_bomb_is_refused_while_unpacking(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schools.dbf", b"\0" * (MAX_RATIO * 20_000))
    with pytest.raises(ImportFileError, match="more than 200 times its packed size"):
        load_gis_schools(archive)


def test_a_zip_with_two_datasets_asks_for_layer_and_one_with_none_says_so(
    tmp_path: Path,
) -> None:
    archive = _shapefile_zip(tmp_path, prj=True)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("other.geojson", '{"type": "FeatureCollection", "features": []}')
    with pytest.raises(ImportFileError, match=r"2 datasets.*--layer"):
        load_gis_schools(archive)
    assert load_gis_schools(archive, layer="schools").summary().startswith("2 imported")

    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "no data")
    with pytest.raises(ImportFileError, match="holds no shapefile"):
        load_gis_schools(empty)


def test_garbage_and_unknown_files_are_one_clear_line(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gpkg"
    fake.write_bytes(b"not a database" * 10)
    with pytest.raises(ImportFileError, match="GDAL cannot read it"):
        load_gis_schools(fake)
    other = tmp_path / "schools.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(ImportFileError, match=r"unsupported file type '\.xlsx'"):
        load_gis_schools(other)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ImportFileError, match="not a readable ZIP"):
        load_gis_schools(broken)


def test_a_zipped_file_geodatabase(tmp_path: Path) -> None:
    gdb = _write(
        tmp_path / "county.gdb",
        [_ky(-84.559, 38.206), _ky(-84.557, 38.1997)],
        {"SCHOOL_NAME": ["Garth Elementary", "Georgetown Middle"]},
        driver="OpenFileGDB",
        geometry_type="Point",
    )
    assert load_gis_schools(gdb).summary() == "2 imported, 0 rejected, 0 skipped, 1 warning"
    archive = tmp_path / "county.gdb.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(gdb.iterdir()):
            zf.write(part, f"county.gdb/{part.name}")
    report = load_gis_schools(archive)
    assert [s.name for s in report.imported] == ["Garth Elementary", "Georgetown Middle"]
    assert report.warnings[0].reason == "coordinates transformed from EPSG:3089 to WGS84"


def test_a_layer_with_too_many_features_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dispatch_console.importers.gis.MAX_FEATURES", 3)
    gpkg = _write(
        tmp_path / "big.gpkg",
        [_ky(-84.5 - i / 100, 38.2) for i in range(4)],
        {"name": list("abcd")},
    )
    with pytest.raises(ImportFileError, match="the layer has 4 features; at most 3 are read"):
        load_gis_schools(gpkg)


@pytest.mark.shared_data
def test_the_scott_county_streets_through_the_gis_reader(shared_data: Path) -> None:
    path = shared_data / "roads" / "scott_county_ky_streets_20170104.geojson"
    report = load_gis_roads(path)
    assert report.summary() == "3560 imported, 0 rejected, 54 skipped, 1 warning"
