"""Helpers for the tests that deploy: deploy.yaml and zip variants, and an environment tag whose build failed."""
import shutil
import zipfile
from pathlib import Path

import yaml

from mod.build.rules import BASE_ENVIRONMENT, ENV_DIR, environment_zip
from mod.build.zips import write_zip
from mod.cloud.config import environment_name

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(__file__).parent / "fixtures" / "portrait" / "deploy.yaml"  # the fixture package's


def config(tmp_path: Path, **changes) -> Path:
    "A copy of deploy.yaml with `changes` (a None value drops the key)."
    cfg = {**yaml.safe_load(CONFIG.read_text()), **changes}
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if v is not None}))
    return path


def variant(package: Path, out: Path, files: dict) -> Path:
    "A copy of the zip with `files` (names inside deployment_package/) replaced or added, its environment beside it."
    replace = {f"deployment_package/{name}": text for name, text in files.items()}
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, replace.pop(info.filename, None) or src.read(info))
        for entry, text in replace.items():
            dst.writestr(entry, text)
    if not environment_zip(out).exists():
        shutil.copyfile(environment_zip(package), environment_zip(out))
    return out


def environment_package(folder: Path, requirements: str) -> Path:
    "An environment package zip holding `requirements`, as `make package` writes one."
    (folder / ENV_DIR).mkdir(parents=True)
    (folder / ENV_DIR / "requirements.txt").write_text(requirements)
    write_zip(folder / ENV_DIR, ["requirements.txt"], folder / "environment.zip", top=ENV_DIR)
    return folder / "environment.zip"


def failed_environment(api, deployment: str, pins: str, folder: Path) -> str:
    "Make the environment `mod deploy` would build for `deployment` and `pins`, with its tag v1 failed; its name."
    name = environment_name(deployment, BASE_ENVIRONMENT, "v1", pins)
    bad = environment_package(folder, "numpy==0.0.1\n")  # the local server can't provide it: the build fails
    api.environments_create("local", {"name": name})
    api.environment_tags_create("local", name, {"name": "v1"})
    api.environment_tags_build("local", name, "v1", file=str(bad), base_environment_name=BASE_ENVIRONMENT,
                               base_environment_tag="v1")
    assert api.environment_tags_get("local", name, "v1").status == "failed"
    return name
