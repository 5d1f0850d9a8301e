"""An unexpected error is logged with its traceback, rendered plainly: no local variables."""

from __future__ import annotations

import httpx

from berrys.app import create_app


async def test_an_unhandled_error_logs_a_plain_traceback_without_locals(settings, database, capsys):
    """Rich's traceback with locals took seconds on the event loop (every request froze);
    a plain traceback takes microseconds and never shows a local's value."""
    app = create_app(settings, database=database)
    assert settings.log_format == "console"

    @app.get("/boom")
    async def boom() -> None:
        held_in_a_local = "local-value-" + "4711" * 3
        raise RuntimeError(f"failed beside {len(held_in_a_local)} characters")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    logged = capsys.readouterr().err
    assert "Traceback (most recent call last)" in logged
    assert "RuntimeError: failed beside 24 characters" in logged
    assert ", in boom" in logged  # the frame that raised
    assert "╭" not in logged  # no Rich panel
    assert "local-value-471147114711" not in logged
