"""Composition: commands, the event bus, workers, settings. Qt is allowed here, but modules
that the CLI imports (``example``) stay free of it so that the CLI starts fast."""
