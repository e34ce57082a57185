"""Each role logs in through Chromium and sees its own studio."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import watch_policy
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_have_text(username)


@pytest.mark.parametrize(
    "persona,role_badge,sees_admin_section",
    [
        ("itops", "IT operations", True),
        ("admin", "Admin", False),
        ("scientist", "Data scientist", False),
        ("reader", "Reader", False),
    ],
)
def test_each_role_sees_its_studio(
    page, portal_server, personas, persona, role_badge, sees_admin_section
):
    login(page, portal_server, persona)
    expect(page.get_by_test_id("role")).to_have_text(role_badge)
    nav = page.get_by_role("navigation", name="Main")
    admin_link = nav.get_by_role("link", name="Admin panel")
    if sees_admin_section:
        expect(nav.get_by_text("Cluster administration")).to_be_visible()
        expect(admin_link).to_be_visible()
    else:
        expect(admin_link).to_have_count(0)
        expect(nav.get_by_text("Cluster administration")).to_have_count(0)
    page.goto(f"{portal_server}/workspaces/team-a/")
    add_member = page.get_by_role("button", name="Save membership")
    if persona in {"itops", "admin"}:
        expect(add_member).to_be_visible()
    else:
        expect(add_member).to_have_count(0)


def test_wrong_password_is_explained(page, portal_server, personas):
    page.goto(f"{portal_server}/login/")
    page.get_by_label("Username").fill("reader")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")


def test_membership_change_appears_live(browser, portal_server, personas):
    """An admin adds a member in one browser; a reader's open page updates without reload."""
    reader_context, admin_context = browser.new_context(), browser.new_context()
    reader, admin = reader_context.new_page(), admin_context.new_page()
    violations = watch_policy(reader) + watch_policy(admin)
    try:
        login(reader, portal_server, "reader")
        reader.goto(f"{portal_server}/workspaces/team-a/")
        members = reader.locator("table[id$='-members']")
        expect(members).not_to_contain_text("outsider")
        # The page's websocket is open before the change happens.
        reader.wait_for_function(
            "() => document.body['htmx-internal-data']?.webSocket?.socket?.readyState === 1"
        )

        login(admin, portal_server, "admin")
        admin.goto(f"{portal_server}/workspaces/team-a/")
        admin.get_by_label("Username").fill("outsider")
        admin.get_by_label("Role").select_option("reader")
        admin.get_by_role("button", name="Save membership").click()

        expect(members).to_contain_text("outsider", timeout=10_000)
        expect(reader).to_have_url(re.compile(r"/workspaces/team-a/$"))
        assert not violations, violations
    finally:
        reader_context.close()
        admin_context.close()


def test_itops_sets_up_compute_and_scientist_sees_it(
    browser, portal_server, personas, sim_kubeconfig
):
    """IT ops attach the sandbox, install the extension, create a GPU instance type and a
    compute target; a data scientist then sees the target and the instance type."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = watch_policy(page)
    try:
        login(page, portal_server, "itops")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Clusters").click()
        attach_form = page.locator("form", has=page.locator("input[name=mode][value=kubeconfig]"))
        attach_form.get_by_label("Name").fill("sandbox")
        attach_form.get_by_label("Kubeconfig (pasted)").fill(sim_kubeconfig)
        attach_form.get_by_role("button", name="Attach cluster").click()
        expect(page.get_by_test_id("cluster-status")).to_have_text("Connected")
        page.get_by_role("button", name="Install extension", exact=True).click()
        expect(page.get_by_test_id("extension-status")).to_have_text("Installed")
        expect(page.locator("[data-node='gpu-0']")).to_be_visible()

        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Instance types"
        ).click()
        form = page.locator("form[action$='/instance-types/new']")
        form.get_by_label("Name").fill("gpu-small")
        form.get_by_label("Clusters").select_option(label="sandbox")
        form.get_by_label("Node selector").fill("accelerator=nvidia-a100")
        form.get_by_label("Requests: CPU").fill("4")
        form.get_by_label("Requests: memory").fill("16Gi")
        form.get_by_label("Limits: CPU").fill("4")
        form.get_by_label("Limits: memory").fill("16Gi")
        form.get_by_label("Limits: nvidia.com/gpu").fill("1")
        form.get_by_role("button", name="Create instance type").click()
        expect(page.locator("[data-instance-type='gpu-small']")).to_contain_text("2 nodes")

        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Compute targets"
        ).click()
        form = page.locator("form[action$='/compute-targets/new']")
        form.get_by_label("Workspace").select_option(label="Team A")
        form.get_by_label("Cluster", exact=True).select_option(label="sandbox")
        form.get_by_label("Name", exact=True).fill("gpu-target")
        form.get_by_label("Namespace", exact=True).fill("team-a-gpu")
        form.get_by_label("GPU quota").fill("4")
        form.get_by_role("button", name="Create compute target").click()
        expect(page.locator("[data-target='gpu-target']")).to_contain_text("Ready")
        assert not violations, violations
    finally:
        context.close()

    context = browser.new_context()
    page = context.new_page()
    try:
        login(page, portal_server, "scientist")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Compute").click()
        card = page.locator("[data-target='gpu-target']")
        expect(card).to_contain_text("compute: azureml:gpu-target")
        expect(card.locator("[data-instance-type='gpu-small']")).to_contain_text("of 8")
        expect(page.get_by_role("link", name="Clusters")).to_have_count(0)
    finally:
        context.close()
