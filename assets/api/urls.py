from django.urls import path
from rest_framework.routers import SimpleRouter

from assets.api import views

router = SimpleRouter()
router.register(
    r"workspaces/(?P<slug>[-a-z0-9]+)/environments",
    views.EnvironmentViewSet,
    basename="environment",
)

urlpatterns = [
    path("workspaces/<slug:slug>/code/", views.code_upload, name="code-upload"),
    *router.urls,
]
