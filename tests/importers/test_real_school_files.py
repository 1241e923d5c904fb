"""The real school files in ../shared/data/schools (see that folder's README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_console.domain.geometry import geodesic_distance_m
from dispatch_console.importers import Problem, load_schools

pytestmark = pytest.mark.shared_data


def test_scott_county_schools_all_imported(shared_data: Path) -> None:
    report = load_schools(shared_data / "schools" / "scott_county_ky_schools.geojson")

    assert report.summary() == "21 imported, 0 rejected, 0 skipped, 0 warnings"
    assert report.lines() == []
    schools = report.imported
    assert len({s.school_id for s in schools}) == 21
    # File order, and the longest name property wins (SCHOOL over NAME).
    assert [s.name for s in schools[:3]] == [
        "Western Elementary School",
        "Garth Elementary School",
        "Georgetown Middle School",
    ]
    assert schools[0].school_id == "western-elementary-school"
    assert schools[0].lon == pytest.approx(-84.59793741430664, abs=1e-12)
    assert schools[0].lat == pytest.approx(38.21122154867327, abs=1e-12)
    assert (schools[0].address, schools[0].phone, schools[0].classification) == (
        "1901 Frankfort Rd",
        "502-863-1393",
        "Elementary",
    )
    assert schools[9].name == "Stamping Ground Elementry School"  # the typo is kept

    bctc = schools[19]
    assert bctc.name == "Bluegrass Community & Technical College"  # not "Future BCTC"
    assert bctc.address is None  # "ADDRESS": null
    assert bctc.phone is None  # no PHONE key at all
    assert bctc.classification == "Vocational"

    for school in schools:
        assert -84.75 < school.lon < -84.40 and 38.15 < school.lat < 38.35  # Scott County
        assert school.campus is None
        assert school.pre_plan.staging_areas == ()


def test_scott_county_shared_addresses_are_not_duplicates(shared_data: Path) -> None:
    # Royal Spring Middle and the Center for Lifelong Learning share 332 Champion Way and are
    # about 18 m apart, but they have different names: no near-duplicate warning.
    report = load_schools(shared_data / "schools" / "scott_county_ky_schools.geojson")
    royal, lifelong = report.imported[12], report.imported[18]
    assert (royal.address, lifelong.address) == ("332 Champion Way", "332 Champion Way")
    assert geodesic_distance_m(royal.lon, royal.lat, lifelong.lon, lifelong.lat) < 100
    assert report.warnings == []


def test_georgetown_snow_removal_schools_have_no_names(shared_data: Path) -> None:
    report = load_schools(shared_data / "schools" / "georgetown_ky_schools_snowremoval.geojson")

    assert report.summary() == "0 imported, 4 rejected, 0 skipped, 0 warnings"
    assert report.rejected == [Problem(i, "missing name", None) for i in range(4)]
