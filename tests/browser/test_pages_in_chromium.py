"""The account pages as a person meets them: Debian's headless Chromium against the app served over HTTP.

Screenshots of each page at phone and laptop widths go to a temporary directory (printed; run with -s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from tests.factories import PASSWORD, manage, person, run_jobs
from tests.services import Stack, free_port, wait_for

CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's chromium-driver (tests/run.sh installs it)
SIZES = {"phone": (390, 844), "laptop": (1280, 800)}


@pytest.fixture(scope="module")
def served(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The API served by uvicorn on loopback with the test stack's settings; its base URL and its log.

    ``localhost`` rather than 127.0.0.1: browsers treat it as a secure context, so the pages' Secure
    CSRF cookie is kept over plain HTTP as it is over nginx's HTTPS.
    """
    port = free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.app:create_app",
                "--factory",
                "--host=127.0.0.1",
                f"--port={port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=os.environ | {"HARVEST_ROOT": str(stack.root)},
        )
    base = f"http://localhost:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/").status_code == 200, "uvicorn", timeout=60, log=log)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Browser:
    driver: webdriver.Chrome
    base: str
    #: the served API's own log (stdout and stderr)
    log: Path
    screenshots: Path

    def open(self, path: str) -> str:
        """Open a page of the served app; returns its heading."""
        self.driver.get(self.base + path)
        return self.heading()

    def heading(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "h1").text)

    def submit(self) -> str:
        """Press the form's button and wait for the page it answers with; returns its heading."""
        before = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(self.driver, 10).until(staleness_of(before))
        return self.heading()

    def shoot(self, name: str) -> None:
        """The current page at each width; the paths are printed for a person to look at."""
        for size, (width, height) in SIZES.items():
            # The viewport itself at this size (a window size would include the browser's own frame).
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"}
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            path = self.screenshots / f"{name}-{size}.png"
            assert self.driver.save_screenshot(str(path)), path
            print(f"screenshot: {path}")
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(scope="module")
def browser(served: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1280,800")
    if os.geteuid() == 0:  # Chromium refuses to start its sandbox as root (the CI container runs as root)
        options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield Browser(driver, served[0], served[1], tmp_path_factory.mktemp("page-screenshots"))
    finally:
        driver.quit()


async def test_an_admin_sets_a_password_verifies_an_email_and_meets_a_used_link(browser: Browser, db, valkey, stack):
    assert browser.open("/") == "Harvest"
    browser.shoot("landing")

    # The operator's create-admin link, opened in a browser: a form, the rules, then a confirmation.
    done = manage("create-admin", "pages-admin@example.com")
    assert done.returncode == 0, done.stderr
    link = json.loads(done.stdout)["link"]
    assert link.startswith("https://localhost/reset-password?token=")
    page_path = link.removeprefix("https://localhost")
    assert browser.open(page_path) == "Choose a new password"
    assert "Use 8 to 128 characters" in browser.driver.page_source
    browser.shoot("reset-password")

    browser.driver.find_element(By.ID, "password").send_keys("password")
    browser.driver.find_element(By.ID, "repeat").send_keys("password")
    assert browser.submit() == "Choose a new password"
    assert "most common passwords" in browser.driver.find_element(By.ID, "errors").text
    browser.shoot("reset-password-refused")

    new_password = "the admin's own long passphrase"
    browser.driver.find_element(By.ID, "password").send_keys(new_password)
    browser.driver.find_element(By.ID, "repeat").send_keys(new_password)
    assert browser.submit() == "Your password is set"
    browser.shoot("reset-password-done")

    async with httpx.AsyncClient(base_url=browser.base) as api:
        login = await api.post("/api/auth/login", json={"email": "pages-admin@example.com", "password": new_password})
        assert login.status_code == 200 and login.json()["user"]["role"] == "admin", login.text

        # The same link again: used, so it says so and where to ask for a new one.
        assert browser.open(page_path) == "This link no longer works"
        browser.shoot("link-used")
        # It offers a new link right there: the admin has no app to ask from.
        browser.driver.find_element(By.ID, "email").send_keys("pages-admin@example.com")
        assert browser.submit() == "Check your email"
        browser.shoot("reset-requested")
        await run_jobs(valkey, db)
        assert "Reset" in stack.mailbox.to("pages-admin@example.com")[-1]["Subject"]

        # A new account's verification email: its web page link confirms only when the button is pressed.
        account = person()
        email = account["email"].strip().lower()
        assert (await api.post("/api/auth/register", json=account)).status_code == 201
        await run_jobs(valkey, db)
        content = str(stack.mailbox.to(email)[-1].get_content())
        found = re.search(r"https://localhost(/verify-email\?token=([\w-]+))", content)
        assert found, content
        assert browser.open(found.group(1)) == "Confirm your email address"
        browser.shoot("verify-email")
        before = await api.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert before.json()["user"]["emailVerified"] is False, "opening the page must not verify"
        # A post that did not come from the page (no CSRF cookie and field) is refused.
        assert (await api.post("/verify-email", data={"token": found.group(2)})).status_code == 403
        assert browser.submit() == "Your email address is confirmed"
        browser.shoot("verified")
        after = await api.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert after.json()["user"]["emailVerified"] is True
    server_log = browser.log.read_text()
    for token in (page_path.split("=", 1)[1], found.group(2)):
        assert token not in server_log, "a one-time token reached the server's log"
