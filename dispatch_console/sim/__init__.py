"""A responder simulator: scenario files, a deterministic engine, and a runner that drives a
real gateway over the feed contract (signed HTTP and Cursor-on-Target)."""
