"""Checks a command makes before it writes anything: the Ray session and Prefect's database.

Each failure is one line naming the key (config key or environment variable) and what
was tried; the command exits with status 2 and the run directory is left untouched.
"""

from __future__ import annotations

import asyncio
import os
import socket

import typer

from zeroloop.config import ZeroloopConfig

_DB_KEYS = ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")


class PreflightError(RuntimeError):
    """A setting names a service that does not answer (message: one line)."""


def database_setting() -> tuple[str | None, str]:
    """(URL, key) of the database the embedded Prefect API would use; (None, key) when a server is set.

    With `PREFECT_API_URL` set, flow runs talk to that server and its database is the
    server's business; without it `zeroloop run` starts a temporary API in-process,
    which opens `server.database.connection_url` itself.
    """
    from prefect.settings import Settings

    settings = Settings()  # read now: the environment may have changed since Prefect was imported
    key = next((k for k in _DB_KEYS if os.environ.get(k)), "server.database.connection_url (Prefect profile)")
    if settings.api.url:
        return None, key
    url = settings.server.database.connection_url
    return (url.get_secret_value() if url is not None else None), key


def check_database(url: str, key: str, timeout: float = 5.0) -> None:
    """Connect to a PostgreSQL URL once (TCP, then a real login); SQLite needs no check."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    shown = parsed.render_as_string(hide_password=True)
    host, port = parsed.host or "localhost", parsed.port or 5432
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise PreflightError(f"{key}={shown}: PostgreSQL at {host}:{port} refused the connection "
                             f"({exc.strerror or type(exc).__name__})") from None  # fmt: skip
    try:
        import asyncpg
    except ImportError:
        raise PreflightError(f"{key}={shown}: the asyncpg package is not installed") from None

    async def login() -> None:
        conn = await asyncpg.connect(
            host=host,
            port=port,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
            timeout=timeout,
        )
        await conn.close()

    try:
        asyncio.run(login())
    except Exception as exc:  # asyncpg raises many kinds; all mean "cannot use this database"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PreflightError(f"{key}={shown}: cannot log in to PostgreSQL: {first}") from None


def check_prefect_database_or_exit() -> None:
    """Exit 2 with one line when the embedded Prefect API's PostgreSQL does not answer."""
    url, key = database_setting()
    if url is None:
        return
    try:
        check_database(url, key)
    except PreflightError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def connect_ray_or_exit(config: ZeroloopConfig) -> None:
    """Join or start Ray now (see workers/ray_session.py); exit 2 with one line when it cannot."""
    from zeroloop.workers.ray_session import RayClusterError, ensure_ray

    try:
        ensure_ray(config)
    except RayClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def check_ray_address_or_exit(config: ZeroloopConfig) -> None:
    """Exit 2 with one line when the Ray address is malformed or nothing answers there (no ray.init)."""
    from zeroloop.workers.ray_session import RayClusterError, check_ray_address

    try:
        check_ray_address(config)
    except RayClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
