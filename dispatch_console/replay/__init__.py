"""Replay and after-action: the state at any instant, metrics, portable incident files.

No Qt here (the replay window is in ``ui``)."""
