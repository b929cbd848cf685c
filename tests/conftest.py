"""Shared fixtures: the sample pictures scikit-image ships, the installed deployment, and the fixture package.

Two kinds of tests live here. Tests of the tooling (package, smoke, server, deploy, page) run on the fixture package
`tests/fixtures/portrait`, built here like any package, so they hold whatever model and `Deployment` a user installs.
Checks of the installed deployment (tests/test_installed.py) hold for any model too: its golden examples, its specs.
The demo's own tests (tests/test_demo.py) run only while the demo model is installed.
"""
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deployment_package"
PORTRAIT = Path(__file__).parent / "fixtures" / "portrait"


def demo_installed() -> bool:
    "Whether the installed model is the demo model `make train` trains (tests of the demo run only then)."
    try:
        return json.loads((PACKAGE / "model1.json").read_text()).get("trained_by") == "mod train"
    except (OSError, ValueError):
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "network: needs PyPI (pip installs into a fresh venv); deselect with -m 'not network'")


@pytest.fixture(scope="session")
def pictures(tmp_path_factory) -> dict:
    "PNG files of scikit-image's astronaut (a portrait), coffee, camera and chelsea (a cat)."
    folder = tmp_path_factory.mktemp("pictures")
    out = {}
    for name in ("astronaut", "coffee", "camera", "chelsea"):
        out[name] = folder / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(out[name])
    return out


@pytest.fixture(scope="session")
def deployment():
    "The Deployment built from the repository's deployment folder (`make test` trains the model first)."
    from mod.core import Deployment

    if not (PACKAGE / "model1.pkl").exists():
        pytest.fail("deployment_package/model1.pkl is missing: run `make train` (make test does it for you)")
    return Deployment(str(PACKAGE), context={})


@pytest.fixture(scope="session")
def fixture_checkout(tmp_path_factory, pictures) -> Path:
    "A copy of this checkout whose deployment is the fixture package (no model file: the cascade alone), saved as a user saves one."
    from mod.build.model import save_model
    from mod.build.package import copy_checkout

    root = copy_checkout(ROOT, tmp_path_factory.mktemp("fixture") / "checkout")
    for name in ("input_spec.json", "output_spec.json"):
        shutil.copyfile(PORTRAIT / name, root / name)
    shutil.copyfile(PORTRAIT / "deployment.py", root / "deployment_package" / "deployment.py")
    for name in ("model1.pkl", "model1.json"):
        (root / "deployment_package" / name).unlink(missing_ok=True)
    shutil.rmtree(root / "deployment_package" / "examples", ignore_errors=True)
    save_model({"note": "the fixture answers with prcvd's cascade alone"},
               {"astronaut": {"portrait": str(pictures["astronaut"])}, "coffee": {"portrait": str(pictures["coffee"])}},
               metrics={"accuracy": 1.0},  # on its two golden examples: mod deploy makes it a version label
               root=root)
    return root


@pytest.fixture(scope="session")
def built_zip(fixture_checkout) -> Path:
    "The fixture package's deployment_package.zip, built as `make package` builds one (its pins beside it)."
    from mod.build.package import build

    build(fixture_checkout)
    return fixture_checkout / "deployment_package.zip"


@pytest.fixture(scope="session")
def fixture_deployment():
    "The fixture package's Deployment, in this process: what a server test's answers must equal."
    import importlib.util

    spec = importlib.util.spec_from_file_location("portrait_fixture", PORTRAIT / "deployment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Deployment(str(PORTRAIT), {})


@pytest.fixture
def package_copy(tmp_path) -> Path:
    "A private copy of the deployment folder, to tamper with."
    dst = tmp_path / "deployment_package"
    shutil.copytree(PACKAGE, dst)
    return dst
