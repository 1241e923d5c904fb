"""What an import did: what it took, what it refused, and why.

An importer never stops at the first bad record. Every record that cannot be used is kept in
the :class:`ImportReport` with its position in the file (a GeoJSON feature's index in
``features``, or a CSV file's 1-based line number) and a reason a person can act on. Only a
problem with the whole file (not JSON, not a FeatureCollection, an unknown CRS, a CSV header
without the required columns ...) stops the import, as :class:`ImportFileError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

Category = Literal["rejected", "skipped", "warning"]


class ImportFileError(ValueError):
    """The file as a whole cannot be imported. ``str()`` is one line a person can read.

    A ``ValueError``, so callers that report bad input already report this one."""

    def __init__(self, reason: str, source: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}" if self.source else self.reason


@dataclass(frozen=True)
class Problem:
    """One record that was refused, left out, or taken with a caveat.

    ``index`` is the feature's index in the GeoJSON ``features`` array (0-based, as in
    ``features[7]``), or the 1-based line number in a CSV file; ``None`` for the file as a whole.
    ``name`` is the record's name when it has one, to help find it.
    """

    index: int | None
    reason: str
    name: str | None = None


_ORDER: dict[Category, int] = {"rejected": 0, "skipped": 1, "warning": 2}


@dataclass
class ImportReport(Generic[T]):
    """The records imported, in file order, and every problem met on the way."""

    imported: list[T] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    #: Where the data came from (a path, or ``"<input>"``).
    source: str = "<input>"
    #: What ``Problem.index`` counts: ``"feature"`` (GeoJSON) or ``"line"`` (CSV).
    unit: str = "feature"
    #: Records that were used but are not in ``imported`` (pre-plan features attached to a school).
    attached: int = 0

    def summary(self) -> str:
        """One line, e.g. ``"12 imported, 2 rejected, 1 skipped, 3 warnings"``."""
        imported = f"{len(self.imported)} imported"
        if self.attached:
            noun = "feature" if self.attached == 1 else "features"
            imported += f" ({self.attached} pre-plan {noun} attached)"
        warnings = len(self.warnings)
        return (
            f"{imported}, {len(self.rejected)} rejected, {len(self.skipped)} skipped, "
            f"{warnings} {'warning' if warnings == 1 else 'warnings'}"
        )

    def problems(self) -> list[tuple[Category, Problem]]:
        """Every problem with its category, file-wide ones first, then in file order."""
        tagged: list[tuple[Category, Problem]] = [
            *(("rejected", p) for p in self.rejected),
            *(("skipped", p) for p in self.skipped),
            *(("warning", p) for p in self.warnings),
        ]
        return sorted(
            tagged,
            key=lambda cp: (cp[1].index is not None, cp[1].index or 0, _ORDER[cp[0]]),
        )

    def lines(self) -> list[str]:
        """One readable line per problem, e.g.
        ``"feature 7 (Lincoln HS): rejected: polygon self-intersects at (-84.5, 38.2)"``."""
        result = []
        for category, problem in self.problems():
            where = self.source if problem.index is None else f"{self.unit} {problem.index}"
            if problem.name:
                where += f" ({problem.name})"
            result.append(_one_line(f"{where}: {category}: {problem.reason}"))
        return result


def _one_line(text: str) -> str:
    """Control characters (line breaks in a name from the file ...) shown as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)
