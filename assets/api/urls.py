from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from assets.api import models, views

router = SimpleRouter()
router.register(
    r"workspaces/(?P<slug>[-a-z0-9]+)/environments",
    views.EnvironmentViewSet,
    basename="environment",
)

MODEL = r"^workspaces/(?P<slug>[-a-z0-9]+)/models/(?P<name>[^/]+)/(?P<version>[^/]+)/"

urlpatterns = [
    path("workspaces/<slug:slug>/code/", views.code_upload, name="code-upload"),
    path("workspaces/<slug:slug>/models/", models.ModelListCreate.as_view(), name="model-list"),
    re_path(MODEL + r"$", models.ModelVersionDetail.as_view(), name="model-version"),
    re_path(MODEL + r"archive/$", models.ModelArchive.as_view(), name="model-archive"),
    re_path(MODEL + r"restore/$", models.ModelRestore.as_view(), name="model-restore"),
    re_path(MODEL + r"files/(?P<path>.+)$", models.ModelFileDownload.as_view(), name="model-file"),
    *router.urls,
]
