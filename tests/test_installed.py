"""Checks of the installed deployment, whatever its model and interface: its specs, its package, and its golden
examples answered the same by `make smoke` and through the local server's HTTP API (files uploaded as a client does)."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import ubiops

from conftest import PACKAGE, ROOT
from mod.build.golden import check_answers
from mod.build.package import build, copy_checkout
from mod.build.smoke import golden_examples, smoke
from mod.build.zips import unpack_package
from mod.cloud.files import remote_request
from prcvd.specs import Spec
from serve_support import prepare, settings
from server_fixture import running_server


@pytest.fixture(scope="module")
def installed_zip(tmp_path_factory) -> Path:
    "The installed deployment, built from a copy of this checkout as `make package` builds it."
    root = copy_checkout(ROOT, tmp_path_factory.mktemp("installed") / "checkout")
    build(root)  # its sealed check replays the golden examples
    return root / "deployment_package.zip"


@pytest.fixture(scope="module")
def examples() -> list:
    found = golden_examples(PACKAGE)
    if not found:
        pytest.skip("the installed model was saved without golden examples (mod.build.model.save_model(..., examples=...))")
    return found


def test_the_specs_are_valid_ubiops_specs():
    for name in ("input", "output"):
        Spec.load(ROOT / f"{name}_spec.json", name)


def test_smoke_answers_the_golden_examples_as_recorded(installed_zip, examples):
    assert smoke(installed_zip) == {ex["name"]: ex["answer"] for ex in examples}


def test_the_local_server_answers_the_golden_examples_as_recorded(installed_zip, examples, tmp_path):
    token = prepare(tmp_path / "data", installed_zip, "installed")
    files = unpack_package(installed_zip, tmp_path / "unpacked")
    spec = Spec.load(files / "input_spec.json", "input")
    with running_server(settings(tmp_path / "data")) as url:
        client = ubiops.ApiClient(ubiops.Configuration(host=f"{url}/v2", api_key={"Authorization": f"Token {token}"}))
        target = SimpleNamespace(project="local", client=client, api=ubiops.CoreApi(client))
        answers = []
        for ex in examples:
            r = target.api.deployment_requests_create("local", "installed", remote_request(target, spec, ex["data"], files))
            assert r.status == "completed", (ex["name"], r.error_message)
            answers.append(r.result)
        client.close()
    check_answers(examples, answers, "The local server")
    assert json.loads(json.dumps(answers)) == answers
