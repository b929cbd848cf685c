"""Shared fixtures: the sample pictures scikit-image ships, and the trained deployment folder."""
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deployment_package"
# Where the astronaut's face is in scikit-image's 512 px astronaut (x, y, width, height): the one statement of it.
ASTRONAUT_FACE = [176, 66, 100, 100]


def iou(a, b) -> float:
    "Intersection over union of two (x, y, width, height) boxes."
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


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
