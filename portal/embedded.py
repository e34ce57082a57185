"""Background pieces that the embedded mode runs inside the web process.

Apps add ``Background`` items (start/stop) to the registry; the ASGI lifespan calls
``lifespan``, which starts them after the server is up and stops them on shutdown. In
production nothing is started here: Celery worker, beat and ``manage.py watch_clusters``
run as their own processes.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from portal import gcpolicy, live
from portal.background import PeriodicRunner
from portal.registry import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Background:
    """A piece the embedded mode runs: ``start()`` after the server is up, ``stop()`` on
    shutdown (in reverse order)."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], None]


_runner: PeriodicRunner | None = None


def start_all() -> None:
    global _runner
    _runner = PeriodicRunner()
    _runner.start()
    for piece in registry.of(Background):
        piece.start()


def stop_all() -> None:
    for piece in reversed(registry.of(Background)):
        try:
            piece.stop()
        except Exception:
            log.exception("stopping %s failed", piece.name)
    if _runner is not None:
        _runner.stop()


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
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
