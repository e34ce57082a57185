"""ASGI entry point: HTTP through Django, websockets through Channels.

In the embedded mode the lifespan startup also starts the in-process background
pieces (periodic tasks, cluster watchers) that production runs as separate
processes; Ctrl-C (lifespan shutdown) stops them.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from portal import embedded  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402
from portal.ws_auth import SessionUserMiddleware  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": AllowedHostsOriginValidator(
            SessionUserMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await embedded.lifespan(receive, send)
        return
    await router(scope, receive, send)
