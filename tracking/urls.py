from django.urls import path, re_path

from tracking.api import artifacts
from tracking.api import views as api

MLFLOW = "mlflow/<slug:slug>/api/2.0/"

urlpatterns = [
    path(MLFLOW + "mlflow/logged-models", api.dispatch, {"path": "logged-models"}),
    path(MLFLOW + "mlflow/logged-models/search", api.dispatch, {"path": "logged-models/search"}),
    path(
        MLFLOW + "mlflow/logged-models/<str:model_id>", api.dispatch, {"path": "logged-models/id"}
    ),
    path(
        MLFLOW + "mlflow/logged-models/<str:model_id>/tags",
        api.dispatch,
        {"path": "logged-models/id/tags"},
    ),
    path(
        MLFLOW + "mlflow/logged-models/<str:model_id>/tags/<str:tag_key>",
        api.dispatch,
        {"path": "logged-models/id/tags/key"},
    ),
    path(
        MLFLOW + "mlflow/logged-models/<str:model_id>/params",
        api.dispatch,
        {"path": "logged-models/id/params"},
    ),
    re_path(
        r"^mlflow/(?P<slug>[-a-zA-Z0-9_]+)/api/2\.0/mlflow/(?P<path>[a-z-]+/[a-z-]+)$",
        api.dispatch,
        name="mlflow-api",
    ),
    path("mlflow/<slug:slug>/api/3.0/mlflow/server-info", api.server_info),
    path(MLFLOW + "mlflow-artifacts/artifacts", artifacts.proxy, name="mlflow-artifacts-list"),
    path(
        MLFLOW + "mlflow-artifacts/artifacts/<path:path>", artifacts.proxy, name="mlflow-artifacts"
    ),
]
