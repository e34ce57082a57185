from django.urls import path

from assets import model_views, views

urlpatterns = [
    path("environments/", views.environment_list_current, name="environment-list-current"),
    path("jobs/<slug:slug>/environments/", views.environment_list, name="environment-list"),
    path("models/", model_views.model_list_current, name="model-list-current"),
    path("models/<slug:slug>/", model_views.model_list, name="model-list"),
    path("models/<slug:slug>/<str:name>/", model_views.model_detail, name="model-detail"),
    path(
        "models/<slug:slug>/<str:name>/<str:version>/files/<path:path>",
        model_views.model_file,
        name="model-file",
    ),
    path(
        "models/<slug:slug>/<str:name>/<str:version>/archive",
        model_views.model_archive,
        name="model-archive-page",
    ),
]
