"""Schemathesis against the portal's own OpenAPI schema, bounded for CI: a fixed number of
derandomised examples per operation, as a data scientist and as IT operations, through the
WSGI application. Every answer must be no 5xx and must match the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings

from portal import services

EXAMPLES = 3  # per operation and persona: enough to find 5xx, short enough for CI


@schemathesis.serializer("application/gzip")
def _archive_bytes(ctx, value) -> bytes:
    """Code uploads: whatever was generated, as the raw body (the portal refuses what is
    not an archive with a 400)."""
    return value if isinstance(value, bytes) else str(value).encode()


raw = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(raw)
schema.app = get_wsgi_application()

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.specs.openapi.checks.response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _connection_stays_open():
    """As Django's test client does: a request ending must not close the test's database
    connection (it holds the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["scientist", "itops"])
def bearer(request, personas) -> dict:
    _token, raw_token = services.token_create(user=personas[request.param], name="fuzz")
    return {"Authorization": f"Bearer {raw_token}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_match_the_schema(case, bearer):
    response = case.call(headers=bearer)
    case.validate_response(response, checks=CHECKS)
