"""Security headers on every kind of response, and pages that need no inline script or
style (the Content-Security-Policy allows neither)."""

import logging
from html.parser import HTMLParser

import pytest

from tests.helpers import submit_job

HELLO = "type: command\ncommand: echo hi\nenvironment:\n  image: python:3.11-slim\ncompute: azureml:cpu-target\n"

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = {
    "anonymous": ["/login/", "/api/v1/me/", "/nope/"],
    "itops": [
        "/",
        "/workspaces/",
        "/workspaces/team-a/",
        "/account/tokens/",
        "/clusters/",
        "/clusters/sim/",
        "/instance-types/",
        "/compute-targets/",
        "/compute/",
        "/jobs/team-a/",
        "/jobs/team-a/seen/",
        "/jobs/team-a/environments/",
        "/admin/",
        "/admin/compute/cluster/",
        "/admin/portal/user/",
        "/admin/portal/user/1/change/",
        "/api/v1/docs/",
        "/api/v1/workspaces/",
        "/audit/",
        "/user-tokens/",
    ],
    "scientist": [
        "/",
        "/compute/",
        "/jobs/team-a/",
        "/jobs/team-a/new",
        "/jobs/team-a/seen/",
        "/account/tokens/",
        "/workspaces/team-b/",
    ],
}


# error pages carry the same headers
REFUSED = {"/api/v1/me/", "/nope/", "/workspaces/team-b/"}


class InlineFinder(HTMLParser):
    """Collects what a strict CSP would refuse: inline scripts, style elements and
    attributes, event-handler attributes, htmx's hx-on, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script":
            self._script = "src" not in names
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}=…>")
            if name in {"href", "src", "action"} and (value or "").lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:…>")
        if tag == "meta" and names.get("http-equiv", "").lower() == "content-security-policy":
            self.found.append("a meta CSP")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = False

    def handle_data(self, data):
        if self._script and data.strip():
            self.found.append("inline <script>")


def policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()
    }


@pytest.fixture
def pages(compute_ready, client_for, personas):
    submit_job(client_for("scientist"), HELLO, "seen")
    # the admin's model pages ask for model permissions
    personas["itops"].is_superuser = True
    personas["itops"].save()


def test_headers_and_no_inline_code_on_every_page(pages, client_for):
    problems = []
    for persona, urls in PAGES.items():
        client = client_for(persona)
        for url in urls:
            response = client.get(url)
            if response.status_code >= 400 and url not in REFUSED:
                problems.append(f"{persona} {url}: {response.status_code}")
                continue
            csp = policy(response)
            for directive in ("script-src", "style-src", "default-src"):
                if "'unsafe-inline'" in csp.get(directive, "") or "'unsafe-eval'" in csp.get(
                    directive, ""
                ):
                    problems.append(f"{url}: {directive} {csp[directive]}")
            assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'", csp
            assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
            headers = response.headers
            assert headers["X-Content-Type-Options"] == "nosniff", url
            assert headers["Referrer-Policy"] == "same-origin", url
            assert headers["X-Frame-Options"] == "DENY", url
            assert headers["Cross-Origin-Opener-Policy"] == "same-origin", url
            assert "camera=()" in headers["Permissions-Policy"], url
            if "text/html" in headers.get("Content-Type", ""):
                finder = InlineFinder()
                finder.feed(response.content.decode())
                problems += [f"{persona} {url}: {what}" for what in finder.found]
    assert not problems, "\n".join(problems)


def test_the_api_docs_script_is_a_file_served_with_the_policy(client_for):
    client = client_for("scientist")
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "/api/v1/docs/?script=" in body
    script = client.get("/api/v1/docs/", {"script": ""})
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_the_finder_sees_what_the_policy_refuses():
    finder = InlineFinder()
    finder.feed(
        '<script>alert(1)</script><script src="/a.js"></script><p style="color:red">'
        '<button onclick="x()" hx-on::click="y()"></button><a href="javascript:z()">'
    )
    assert len(finder.found) == 5, finder.found


def test_schema_and_docs_need_a_signed_in_user(client_for):
    anonymous = client_for("anonymous")
    assert anonymous.get("/api/v1/schema/").status_code == 401
    assert anonymous.get("/api/v1/docs/").status_code == 401
    assert client_for("reader").get("/api/v1/schema/").status_code == 200


def test_a_refusal_is_logged_in_one_line_without_a_traceback(client_for, caplog):
    caplog.set_level(logging.INFO, logger="django.request")
    assert client_for("scientist").get("/admin/compute/cluster/").status_code in {302, 403}
    assert client_for("reader").get("/jobs/team-a/new").status_code == 403
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert any(r.status_code == 403 for r in refusals)
    assert all(r.exc_info is None for r in refusals) and "Traceback" not in caplog.text
