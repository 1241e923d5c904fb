"""NENA's published EIDO schema (NENA911/EIDO-JSON: ``Schema/openapi.yaml`` and the NIEM
components it references), for validating the documents we issue. Never copied into this
repository: read from ``$DISPATCH_EIDO_SCHEMA_DIR`` (the folder holding ``openapi.yaml``), or
exported from the local mirror of NENA's repository with ``git archive``."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

MIRROR = Path("/work/.mirror/NENA911+EIDO-JSON/repo")
ENTRY = "EmergencyIncidentDataObjectType"


def schema_dir(scratch: Path) -> Path | str:
    """The folder with ``openapi.yaml``, or why there is none (a skip reason)."""
    configured = os.environ.get("DISPATCH_EIDO_SCHEMA_DIR")
    if configured:
        folder = Path(configured)
        if (folder / "openapi.yaml").is_file():
            return folder
        return f"$DISPATCH_EIDO_SCHEMA_DIR={configured} has no openapi.yaml"
    if not MIRROR.exists():
        return f"NENA's EIDO schema: neither $DISPATCH_EIDO_SCHEMA_DIR nor a mirror at {MIRROR}"
    archive = subprocess.run(
        ["git", "-C", str(MIRROR), "archive", "HEAD", "Schema/openapi.yaml",
         "Schema/NIEMComponents"],
        check=True, capture_output=True, timeout=120,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(scratch, filter="data")
    return scratch / "Schema"


def _fix(node: Any) -> Any:
    """NENA's file has one typo a validator trips on: ``minItems: 1,`` (a string)."""
    if isinstance(node, dict):
        fixed = {k: _fix(v) for k, v in node.items()}
        if isinstance(fixed.get("minItems"), str):
            fixed["minItems"] = int(fixed["minItems"].rstrip(", "))
        return fixed
    if isinstance(node, list):
        return [_fix(v) for v in node]
    return node


@lru_cache(maxsize=4)
def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return _fix(yaml.safe_load(handle))


def validator(folder: Path) -> Draft7Validator:
    """A validator of ``EmergencyIncidentDataObjectType``, every ``$ref`` resolved in files."""

    def retrieve(uri: str) -> Resource[Any]:
        path = os.path.normpath(unquote(urlparse(uri).path))
        return Resource.from_contents(_load(path), default_specification=DRAFT7)

    entry = (folder / "openapi.yaml").resolve().as_uri()
    registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    schema = {"$ref": f"{entry}#/components/schemas/{ENTRY}"}
    return Draft7Validator(schema, registry=registry)


def problems(check: Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in check.iter_errors(document)
    ]
