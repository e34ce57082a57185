"""Pages work under the Content-Security-Policy (no inline script or style): the
``page`` fixture fails a test on any violation the browser reports."""

import pytest
from playwright.sync_api import expect

from portal.models import Membership, Role
from tests.browser.test_roles import login

pytestmark = pytest.mark.browser


def test_the_workspace_switcher_submits_itself(page, portal_server, personas, team_b):
    Membership.objects.create(workspace=team_b, user=personas["scientist"], role=Role.READER)
    login(page, portal_server, "scientist")
    expect(page.get_by_test_id("role")).to_have_text("Data scientist")
    page.get_by_label("Workspace", exact=True).select_option(label="Team B")
    expect(page.get_by_test_id("role")).to_have_text("Reader")


def test_capacity_meters_and_the_api_docs(page, portal_server, personas, compute_ready):
    login(page, portal_server, "itops")
    page.goto(f"{portal_server}/clusters/sim/")
    meter = page.locator("meter.meter").first
    expect(meter).to_be_visible()
    assert 0 <= float(meter.get_attribute("value")) <= 100
    page.goto(f"{portal_server}/api/v1/docs/")
    expect(page.get_by_text("Kube portal API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
