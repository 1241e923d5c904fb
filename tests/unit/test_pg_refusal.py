"""The server's reason for refusing a console's connection, as the sign-in dialog shows it
(issue 16): the reason, never the host, port or user name libpq's message carries."""

from __future__ import annotations

from dispatch_console.store.accounts import pg_no_password, pg_refusal

PREFIX = 'connection failed: connection to server at "10.1.2.3", port 5433 failed: '


def test_a_refused_password_shows_the_reason_without_host_port_or_user() -> None:
    reason = pg_refusal(
        Exception(PREFIX + 'FATAL:  password authentication failed for user "A. Moreno"')
    )
    assert reason == "password authentication failed"


def test_an_unreachable_server_names_no_address() -> None:
    reason = pg_refusal(Exception(PREFIX + "Connection refused\n\tIs the server running?"))
    assert reason == "the database server could not be reached"
    assert "10.1.2.3" not in reason and "5433" not in reason


def test_no_password_found_is_what_makes_the_dialog_ask_it() -> None:
    missing = Exception(PREFIX + "fe_sendauth: no password supplied")
    assert pg_no_password(missing) and pg_refusal(missing) == "no password given"
    assert not pg_no_password(Exception(PREFIX + "FATAL:  password authentication failed"))
