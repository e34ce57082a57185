"""Static files and the icon, served through the ASGI application as uvicorn runs it."""

import warnings
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from portal.asgi import application

STATIC = Path(__file__).resolve().parents[2] / "static"


async def get(path: str) -> tuple[int, dict, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(10)
    body = b""
    while True:
        part = await app.receive_output(10)
        body += part.get("body", b"")
        if not part.get("more_body"):
            break
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.django_db(transaction=True)
async def test_static_files_are_served_under_asgi_without_a_streaming_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, headers, body = await get("/static/vendor/htmx.min.js")
    assert status == 200 and body == (STATIC / "vendor" / "htmx.min.js").read_bytes()
    assert headers["content-length"] == str(len(body)), headers
    assert "javascript" in headers["content-type"]
    assert not [w for w in caught if "StreamingHttpResponse" in str(w.message)]


def test_pages_link_an_icon_and_favicon_ico_leads_to_it(client_for, personas):
    page = client_for("scientist").get("/")
    assert 'rel="icon"' in page.content.decode()
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith(".svg")
    assert Client().get(icon["Location"]).status_code == 200
