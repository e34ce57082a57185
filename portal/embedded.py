"""Background pieces that the embedded mode runs inside the web process.

Apps add start/stop hooks with ``on_start``; the ASGI lifespan calls
``lifespan`` which starts them after the server is up and stops them on
shutdown. In production nothing is started here: Celery worker, beat and
``manage.py watch_clusters`` run as their own processes.
"""

import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings

log = logging.getLogger(__name__)

_hooks: list[tuple[Callable[[], None], Callable[[], None]]] = []


def on_start(start: Callable[[], None], stop: Callable[[], None]) -> None:
    """Registers a background piece to run in the embedded mode."""
    _hooks.append((start, stop))


def start_all() -> None:
    from portal.background import PeriodicRunner

    runner = PeriodicRunner()
    runner.start()
    on_start(lambda: None, runner.stop)
    for start, _stop in list(_hooks):
        start()


def stop_all() -> None:
    for _start, stop in reversed(_hooks):
        try:
            stop()
        except Exception:
            log.exception("stopping a background piece failed")


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            import asyncio

            from portal import gcpolicy, live

            live.use_server_loop(asyncio.get_running_loop())
            gcpolicy.install()
            if not settings.PRODUCTION:
                await sync_to_async(start_all, thread_sensitive=False)()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if not settings.PRODUCTION:
                await sync_to_async(stop_all, thread_sensitive=False)()
            await send({"type": "lifespan.shutdown.complete"})
            return
