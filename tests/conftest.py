"""Shared fixtures: the sample pictures scikit-image ships, and the trained deployment folder."""
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deployment_package"
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
def built_zip(tmp_path_factory) -> Path:
    "deployment_package.zip built once from a copy of this checkout (a build writes into deployment_package/)."
    from mod.build.package import build, copy_checkout

    root = copy_checkout(ROOT, tmp_path_factory.mktemp("built") / "checkout")
    build(root)
    return root / "deployment_package.zip"


@pytest.fixture
def package_copy(tmp_path) -> Path:
    "A private copy of the deployment folder, to tamper with."
    dst = tmp_path / "deployment_package"
    shutil.copytree(PACKAGE, dst)
    return dst
