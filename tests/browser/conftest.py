"""A real ASGI server (HTTP and websockets) and headless Chromium for browser tests."""

import os
import shutil

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running on the test thread, which
    # trips Django's async-safety check for plain ORM calls made by the tests.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Chromium is not installed; scripts/test.sh installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def watch_policy(page) -> list[str]:
    """Returns a list that collects every Content-Security-Policy violation on ``page``
    (the console's refusals and the document's violation events)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(f"page error: {error}"))
    return violations


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    violations = watch_policy(page)
    yield page
    context.close()
    # the pages need no inline script, style or eval: the policy refused nothing
    assert not violations, violations
