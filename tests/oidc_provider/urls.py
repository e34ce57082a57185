"""The test provider's URLs: django-oauth-toolkit under /o/, a bare login form, and a
test-only endpoint that sets a user's groups (how the tests change them)."""

import json

from django.contrib.auth import authenticate, login
from django.contrib.auth.models import Group, User
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import include, path
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def login_view(request):
    if request.method == "POST":
        user = authenticate(
            request, username=request.POST.get("username"), password=request.POST.get("password")
        )
        if user is None:
            return HttpResponse("wrong password", status=403)
        login(request, user)
        return HttpResponseRedirect(request.POST.get("next") or "/")
    next_url = escape(request.GET.get("next", ""))
    return HttpResponse(
        f'<form method="post"><input name="username"><input name="password" type="password">'
        f'<input type="hidden" name="next" value="{next_url}"><button>Sign in</button></form>'
    )


@csrf_exempt
def set_groups(request):
    body = json.loads(request.body)
    user = User.objects.get(username=body["username"])
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in body["groups"]])
    return JsonResponse({"groups": body["groups"]})


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", login_view),
    path("test/groups/", set_groups),
]
