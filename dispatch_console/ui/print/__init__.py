"""What the console puts on paper or in a file.

The after-action report (HTML or PDF), the ICS 211 check-in list as a PDF, and the
``dispatch-console screenshot`` of the console at a fixed moment, to PNG.
"""
