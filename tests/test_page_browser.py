"""The page at `/` and the docs at `/docs`, driven in real headless Chromium (Debian's, through Playwright)."""
import json
import shutil
from pathlib import Path

import httpx
import pytest

from mod.build.smoke import sample_portrait
from portraits import ASTRONAUT_FACE, ON_THE_FACE, iou
from serve_support import FIXTURES, prepare, settings, zip_folder
from server_fixture import running_server

# `make browser` (a step of `make test`) installs one: Debian's chromium where apt exists, else Playwright's own.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
D = "face-portrait"
ECHO = "portrait-options"  # a picture and a field of each other kind, echoed back (tests/fixtures/echo_fields)
TYPED, PLAIN = "typed", "plain-echo"  # every other scalar and array type (tests/fixtures/typed); a plain input


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        own = Path(p.chromium.executable_path).exists()  # Playwright's browser, where `playwright install` worked
        if not Path(CHROMIUM).exists() and not own:
            pytest.fail("No Chromium for the browser tests: `make browser` installs one (make test runs it).")
        b = p.chromium.launch(executable_path=None if own and not Path(CHROMIUM).exists() else CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(built_zip, tmp_path_factory):
    "The built face-portrait package and the echo fixture served by a real server on 127.0.0.1; yields (url, token)."
    tmp = tmp_path_factory.mktemp("page")
    token = prepare(tmp / "data", built_zip, D)
    for name, fixture in ((ECHO, "echo_fields"), (TYPED, "typed"), (PLAIN, "faults")):
        prepare(tmp / "data", zip_folder(FIXTURES / fixture, tmp / f"{fixture}.zip"), name)
    with running_server(settings(tmp / "data")) as url:
        yield url, token


@pytest.fixture
def page(browser, server):
    "A fresh tab, 420 px wide so pictures are scaled down; the test fails if it fetched anything from elsewhere."
    context = browser.new_context(viewport={"width": 420, "height": 1000})
    tab = context.new_page()
    elsewhere = []
    tab.on("request", lambda r: None if r.url.startswith((server[0], "blob:", "data:")) else elsewhere.append(r.url))
    yield tab
    context.close()
    assert elsewhere == [], f"the page fetched from outside the server: {elsewhere}"


def connect(page, server, token=None):
    url, good = server
    page.goto(url + "/")
    page.get_by_label("API token").fill(token or good)
    page.get_by_role("button", name="Connect").click()


def choose(page, deployment: str):
    page.locator("#deployment option").first.wait_for(state="attached")  # (no wait_for_function: the CSP forbids eval)
    page.get_by_label("Deployment").select_option(deployment)


def send(page, picture: Path):
    choose(page, D)
    page.get_by_label("portrait").set_input_files(str(picture))
    page.get_by_role("button", name="Send").click()


def test_page_lists_the_deployments(page, server):
    connect(page, server)
    page.locator("#deployment option").first.wait_for(state="attached")
    assert page.input_value("#deployment") == D
    assert page.inner_text("#status") == "4 deployment(s) in project local."


def test_a_wrong_token_is_shown_as_refused(page, server):
    connect(page, server, token="not-a-token")
    error = page.get_by_role("alert")
    error.wait_for()
    assert error.inner_text().startswith("The server refused the token (401): Invalid token")


def test_portrait_shows_the_face_box_on_the_face(page, server, tmp_path):
    connect(page, server)
    send(page, sample_portrait())
    page.locator("#box").wait_for(state="visible", timeout=30_000)
    answer = json.loads(page.inner_text("#json"))
    assert (answer["status"], answer["result"]["face_found"]) == ("completed", True)
    found = answer["result"]["box"]
    assert iou(found, ASTRONAUT_FACE) >= ON_THE_FACE, found
    img, box = page.locator("#picture").bounding_box(), page.locator("#box").bounding_box()
    scale = img["width"] / 512
    assert scale < 0.9  # the picture is shown scaled down, so the box must be scaled too
    drawn = [box["x"] - img["x"], box["y"] - img["y"], box["width"], box["height"]]
    assert all(abs(d - a * scale) <= 1.5 for d, a in zip(drawn, found)), (drawn, found, scale)
    assert page.inner_text("#caption").startswith("Face found at x ")
    assert page.get_by_role("alert").is_hidden()
    page.screenshot(path=tmp_path / "portrait.png", full_page=True)
    assert (tmp_path / "portrait.png").stat().st_size > 10_000


def test_a_text_file_shows_the_deployments_error(page, server, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    connect(page, server)
    send(page, notes)
    error = page.get_by_role("alert")
    error.wait_for(timeout=30_000)
    assert error.inner_text() == ("The deployment failed: File is not an image Pillow can read; send a JPEG, PNG, "
                                  "WebP, BMP, GIF or TIFF.")
    assert json.loads(page.inner_text("#json"))["status"] == "failed"
    assert page.locator("#box").is_hidden() and page.locator("#picture").is_hidden()  # not a broken-image icon


def test_the_demo_spec_gives_one_file_picker(page, server):
    connect(page, server)
    choose(page, D)
    assert page.locator("#fields input, #fields textarea").count() == 1
    assert page.get_by_label("portrait").get_attribute("type") == "file"


def fill_echo(page, threshold: str, sizes: str, picture: Path, others=()):
    choose(page, ECHO)
    page.get_by_label("portrait").set_input_files(str(picture))
    page.get_by_label("others").set_input_files([str(p) for p in others])
    page.get_by_label("threshold").fill(threshold)
    page.get_by_label("options").fill('{"mode": "fast", "n": 2}')
    page.get_by_label("flip").check()
    page.get_by_label("sizes").fill(sizes)
    page.get_by_role("button", name="Send").click()


def test_every_field_of_the_spec_gets_its_control_and_is_sent_parsed(page, server, pictures):
    connect(page, server)
    choose(page, ECHO)
    names = ("portrait", "threshold", "options", "flip", "sizes", "others")
    kinds = [page.locator(f"#field-{n}").evaluate("e => [e.type, e.multiple === true]") for n in names]
    assert kinds == [["file", False], ["text", False], ["textarea", False], ["checkbox", False], ["textarea", False],
                     ["file", True]]
    others = [pictures["coffee"], pictures["camera"]]
    fill_echo(page, "0.25", "[175, 62, 102, 108]", sample_portrait(), others)
    page.locator("#box").wait_for(state="visible", timeout=30_000)
    answer = json.loads(page.inner_text("#json"))
    assert (answer["status"], answer["error_message"]) == ("completed", None)
    assert answer["result"] == {"threshold": 0.25, "options": {"mode": "fast", "n": 2}, "flip": True,
                                "sizes": [175, 62, 102, 108], "portrait_bytes": sample_portrait().stat().st_size,
                                "box": [175, 62, 102, 108], "face_count": 1,
                                "others_bytes": [p.stat().st_size for p in others]}
    assert page.inner_text("#caption") == "Box at x 175, y 62, 102 x 108 px (face count 1)."


def test_a_bad_value_names_the_field_and_sends_nothing(page, server):
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method in ("POST", "PUT") else None)
    connect(page, server)
    fill_echo(page, "abc", "[1, 2.5]", sample_portrait())
    error = page.get_by_role("alert")
    error.wait_for()
    assert error.inner_text() == (
        "Field 'threshold' (double): \"abc\" is not a number; enter one such as 0.5, -2 or 1e-3.\n"
        "Field 'sizes' (array_int): must be a JSON list of whole numbers, e.g. [1, 2, 3]; item 1 is 2.5.\n"
        "Nothing was sent.")
    assert page.get_by_label("threshold").get_attribute("aria-invalid") == "true"
    assert page.locator("#result").is_hidden() and sent == []


def answer_of(page) -> dict:
    page.locator("#result").wait_for(timeout=30_000)
    return json.loads(page.inner_text("#json"))


def test_ints_strings_and_number_lists_are_parsed_as_their_types(page, server):
    connect(page, server)
    choose(page, TYPED)
    for name, value in {"n": " -3 ", "x": "1e-3", "s": "a b", "d": "{}", "ns": "[1, 2]", "xs": "[0.5, 2]",
                        "ss": '["a", ""]'}.items():
        page.locator(f"#field-{name}").fill(value)
    page.get_by_role("button", name="Send").click()
    answer = answer_of(page)
    assert answer["result"] == {"n": -3, "x": 0.001, "s": "a b", "b": False, "d": {}, "ns": [1, 2], "xs": [0.5, 2],
                                "ss": ["a", ""]}
    assert page.locator("#picture").is_hidden() and page.inner_text("#caption") == ""


def test_a_plain_input_is_sent_as_text(page, server):
    connect(page, server)
    choose(page, PLAIN)
    page.get_by_label("input").fill("hello")
    page.get_by_role("button", name="Send").click()
    assert answer_of(page)["result"].endswith(":hello")


def test_docs_show_each_deployments_request_schema(page, server):
    url, _ = server
    page.goto(url + "/docs")
    page.get_by_text(f"deployment {D}", exact=True).wait_for()
    schema = httpx.get(url + "/openapi.json").json()  # no token: the docs hold no data
    body = schema["paths"][f"/v2.1/projects/local/deployments/{D}/requests"]["post"]["requestBody"]
    one = body["content"]["application/json"]["schema"]["anyOf"][0]  # one input; anyOf[1]: a list of them
    assert one["properties"]["portrait"]["pattern"] == "^ubiops-file://"


def test_docs_authorize_button_sends_the_token(page, server):
    url, token = server
    page.goto(url + "/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux input").fill(f"Token {token}")
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    op = page.locator("#operations-default-projects_list_v2_1_projects_get")  # GET /v2.1/projects
    op.locator(".opblock-summary-path").click()
    op.get_by_role("button", name="Try it out").click()
    op.get_by_role("button", name="Execute").click()
    status = op.locator(".live-responses-table tbody .response-col_status")
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert '"name": "local"' in op.locator(".live-responses-table tbody .microlight").first.inner_text()
