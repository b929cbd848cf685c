"""The page at `/` and the docs at `/docs`, driven in real headless Chromium (Debian's, through Playwright)."""
import json
from pathlib import Path

import httpx
import pytest

from mod.serve import ServeSettings
from server_fixture import running_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` cannot download a browser here
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DEPLOYMENT = "face-portrait"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "A server holding the face-portrait deployment."
    with running_server(ServeSettings(data_dir=tmp_path_factory.mktemp("serve"))) as url:
        specs = {**json.loads((ROOT / "input_spec.json").read_text()),
                 **json.loads((ROOT / "output_spec.json").read_text())}
        r = httpx.post(f"{url}/v2.1/projects/local/deployments", json={"name": DEPLOYMENT, **specs})
        assert r.status_code == 201, r.text
        yield url


@pytest.fixture
def page(browser, server):
    "A fresh tab; the test fails if the page fetched anything from anywhere but the server."
    context = browser.new_context(viewport={"width": 900, "height": 1100})
    tab = context.new_page()
    elsewhere = []
    tab.on("request", lambda r: None if r.url.startswith((server, "blob:", "data:")) else elsewhere.append(r.url))
    yield tab
    context.close()
    assert elsewhere == [], f"the page fetched from outside the server: {elsewhere}"


def test_page_lists_the_deployments(page, server):
    page.goto(server + "/")
    page.get_by_label("API token").fill("some-token")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_function("document.querySelector('#deployment').options.length > 0")
    assert page.input_value("#deployment") == DEPLOYMENT
    assert "1 deployment(s) in project local" in page.inner_text("#status")


def test_docs_show_each_deployments_request_schema(page, server):
    page.goto(server + "/docs")
    page.get_by_text(f"deployment {DEPLOYMENT}", exact=True).wait_for()
    schema = httpx.get(server + "/openapi.json").json()
    body = schema["paths"][f"/v2.1/projects/local/deployments/{DEPLOYMENT}/requests"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["properties"]["portrait"]["pattern"] == "^ubiops-file://"
