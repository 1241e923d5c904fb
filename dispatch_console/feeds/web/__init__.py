"""The responder web page served by the gateway (routes, push, the page itself)."""
