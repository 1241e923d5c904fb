"""What the console puts on paper: the after-action report (HTML or PDF) and the ICS 211
check-in list (PDF), both written by :mod:`.pdf`, the one PDF writer (Letter page, margins,
fonts, HTML documents, EXERCISE banner, "Page n of m", the page loop, neutralised text)."""
