"""PostgreSQL LISTEN, kept up for as long as the process runs: a dropped connection is
opened again a second later. Used where one process must learn at once what another did
(a token revoked, jobs added)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.engine import make_url

log = logging.getLogger("formcase")


async def listen_forever(
    database_url: str,
    channel: str,
    on_notify: Callable[..., None],
    *,
    on_up: Callable[[], None],
    on_down: Callable[[], None] = lambda: None,
) -> None:
    """Call `on_notify` for every NOTIFY on `channel`. `on_up` runs once listening (to catch
    up on what was missed meanwhile), `on_down` each time the connection is lost."""
    import asyncpg  # PostgreSQL's only: not imported by a CLI command on SQLite

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    while True:
        closed = asyncio.Event()
        connection = None
        try:
            connection = await asyncpg.connect(dsn, timeout=10)
            connection.add_termination_listener(lambda _c, event=closed: event.set())
            await connection.add_listener(channel, on_notify)
            on_up()
            await closed.wait()
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot LISTEN on %s (retrying): %s", channel, exc)
        finally:
            on_down()
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close()
        await asyncio.sleep(1)
