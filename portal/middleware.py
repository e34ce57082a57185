"""Remembers which workspace the user is working in (a user may belong to several)."""

from django.conf import settings

from portal.models import Workspace

SESSION_KEY = "workspace_id"


class CurrentWorkspaceMiddleware:
    """Sets ``request.workspace`` for studio pages (None when the user has none).

    API requests name their workspace in the URL, so they skip the lookup.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.workspace = None
        if request.user.is_authenticated and not request.path.startswith("/api/"):
            visible = Workspace.objects.visible_to(request.user)
            wanted = request.session.get(SESSION_KEY)
            workspace = visible.filter(pk=wanted).first() if wanted else None
            request.workspace = workspace or visible.first()
        return self.get_response(request)


def permissions_policy(get_response):
    """Adds ``Permissions-Policy`` (settings.PERMISSIONS_POLICY) to every response: the
    portal uses no camera, microphone, location or payment, so no page, nor anything
    injected into one, may ask for them."""

    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response

    return middleware
