"""Feeds: the gateway (HTTP, Cursor-on-Target), parsers, keys. No Qt."""
