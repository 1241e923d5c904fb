"""The incident domain: events, state, lifecycle rules and geometry.

Pure Python: nothing here imports Qt or SQL (an import-linter contract checks it).
"""
