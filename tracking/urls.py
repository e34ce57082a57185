from django.urls import path, re_path

from tracking import views
from tracking.api import artifacts
from tracking.api import views as api

MLFLOW = "mlflow/<slug:slug>/api/2.0/"

urlpatterns = [
    path("experiments/", views.experiment_list_current, name="experiment-list-current"),
    path("experiments/<slug:slug>/", views.experiment_list, name="experiment-list"),
    path("experiments/<slug:slug>/compare", views.run_compare, name="run-compare"),
    path("experiments/<slug:slug>/<int:pk>/", views.experiment_detail, name="experiment-detail"),
    path("runs/<slug:slug>/<str:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<slug:slug>/<str:run_id>/series", views.run_series, name="run-series"),
    path("runs/<slug:slug>/<str:run_id>/files", views.run_files, name="run-files"),
    path("runs/<slug:slug>/<str:run_id>/files/<path:path>", views.run_file, name="run-file"),
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
