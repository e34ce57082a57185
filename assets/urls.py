from django.urls import path

from assets import views

urlpatterns = [
    path("environments/", views.environment_list_current, name="environment-list-current"),
    path("jobs/<slug:slug>/environments/", views.environment_list, name="environment-list"),
]
