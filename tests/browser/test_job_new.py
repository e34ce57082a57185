"""The "Submit a job" page in Chromium: each pane keeps its own input and errors, and the
YAML check follows every change of the editor, not only key presses."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_roles import login

pytestmark = pytest.mark.browser

BAD_YAML = "type: command\ncommand: echo hi\nenvironment:\n  image: x\ncompute: azureml:nope\n"
NOPE = "no compute target “nope”"


def open_submit_page(page, base: str):
    login(page, base, "scientist")
    page.goto(f"{base}/jobs/team-a/new")
    expect(page.locator("#yaml-errors")).to_have_text("Looks valid.")
    return page.locator("#yaml-pane"), page.locator("#form-pane")


def test_each_pane_keeps_its_input_and_errors(page, portal_server, personas, compute_ready):
    yaml_pane, form_pane = open_submit_page(page, portal_server)
    form_pane.get_by_label("Name", exact=True).fill("kept-name")
    form_pane.get_by_label("Compute").select_option("gpu-target")
    form_pane.get_by_label("Image").fill("python:3.12-slim")
    form_pane.get_by_label("Command").fill("echo kept")
    yaml_pane.get_by_label("Job spec").fill(BAD_YAML)

    yaml_pane.get_by_role("button", name="Submit YAML").click()
    expect(yaml_pane.locator("#yaml-errors")).to_contain_text(NOPE)
    expect(yaml_pane.get_by_label("Job spec")).to_have_value(BAD_YAML)
    expect(form_pane.locator(".error")).to_have_count(0)
    expect(form_pane.get_by_label("Name", exact=True)).to_have_value("kept-name")
    expect(form_pane.get_by_label("Compute")).to_have_value("gpu-target")
    expect(form_pane.get_by_label("Command")).to_have_value("echo kept")

    form_pane.get_by_label("Environment variables").fill("oops")
    form_pane.get_by_role("button", name="Submit job").click()
    expect(form_pane.get_by_role("alert")).to_contain_text("“oops” is not KEY=value")
    expect(form_pane.get_by_label("Name", exact=True)).to_have_value("kept-name")
    expect(yaml_pane.get_by_label("Job spec")).to_have_value(BAD_YAML)
    # The YAML pane shows its own check of its own text, not an "empty file".
    expect(yaml_pane.locator("#yaml-errors")).to_contain_text(NOPE)
    expect(yaml_pane).not_to_contain_text("empty file")


def test_the_yaml_check_follows_a_change_made_without_keys(
    page, portal_server, personas, compute_ready
):
    """A mouse paste changes the editor with an ``input`` event and no key press; a burst of
    changes is checked once, after the burst."""
    open_submit_page(page, portal_server)
    checks = []
    page.on("request", lambda r: checks.append(r) if r.url.endswith("/validate") else None)
    page.locator("#id_yaml").evaluate(
        """(editor, text) => {
            for (const end of [10, 40, text.length]) {
                editor.value = text.slice(0, end);
                editor.dispatchEvent(new InputEvent("input", {bubbles: true, inputType: "insertFromPaste"}));
            }
        }""",
        BAD_YAML,
    )
    expect(page.locator("#yaml-errors")).to_contain_text(NOPE)
    page.wait_for_timeout(600)
    assert len(checks) == 1
