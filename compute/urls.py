from django.urls import path

from compute import views

urlpatterns = [
    path("clusters/", views.cluster_list, name="cluster-list"),
    path("clusters/attach", views.cluster_attach, name="cluster-attach"),
    path("clusters/<slug:name>/", views.cluster_detail, name="cluster-detail"),
    path("clusters/<slug:name>/recheck", views.cluster_recheck, name="cluster-recheck"),
    path("clusters/<slug:name>/delete", views.cluster_delete, name="cluster-delete"),
    path(
        "clusters/<slug:name>/extension/install", views.extension_install, name="extension-install"
    ),
    path(
        "clusters/<slug:name>/extension/uninstall",
        views.extension_uninstall,
        name="extension-uninstall",
    ),
    path("instance-types/", views.instance_type_list, name="instance-type-list"),
    path("instance-types/new", views.instance_type_create, name="instance-type-create"),
    path("instance-types/import", views.instance_type_import, name="instance-type-import"),
    path("instance-types/<int:pk>/edit", views.instance_type_edit, name="instance-type-edit"),
    path("instance-types/<int:pk>/delete", views.instance_type_delete, name="instance-type-delete"),
    path("compute-targets/", views.target_admin, name="target-admin"),
    path("compute-targets/new", views.target_create, name="target-create"),
    path(
        "compute-targets/namespace-check",
        views.target_namespace_check,
        name="target-namespace-check",
    ),
    path("compute-targets/<int:pk>/quota", views.target_quota, name="target-quota"),
    path("compute-targets/<int:pk>/delete", views.target_delete, name="target-delete"),
    path("compute-requests/<int:pk>/review", views.request_review, name="request-review"),
    path("compute/", views.target_list, name="target-list"),
    path("compute/requests/new", views.request_create, name="request-create"),
]
