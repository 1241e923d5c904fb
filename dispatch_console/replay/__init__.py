"""Replay and after-action: the state at any instant, metrics and portable incident files (no Qt)."""
