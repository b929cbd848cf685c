"""Golden examples and the pickle check, on a copy of the installed deployment (any model, not only the demo)."""
import json
import pickle
import re
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from mod.build.golden import GoldenError
from mod.build.package import PackageError, build, copy_checkout, package_files
from mod.build.zips import write_zip
from mod.build.smoke import smoke
from mod.core import sha256_file
from serve_support import api, prepare, settings
from server_fixture import running_server


@pytest.fixture
def checkout(tmp_path) -> Path:
    return copy_checkout(ROOT, tmp_path / "checkout")


def manifest_of(checkout: Path) -> Path:
    return checkout / "deployment_package" / "model1.json"


def test_a_changed_answer_fails_the_build_and_smoke_with_the_difference(checkout, tmp_path):
    build(checkout)  # assembles deployment_package/ as it ships
    pkg, mf = checkout / "deployment_package", manifest_of(checkout)
    manifest = json.loads(mf.read_text())
    if not manifest.get("examples"):
        pytest.skip("the installed model was saved without golden examples")
    name, field = manifest["examples"][0]["name"], next(iter(manifest["examples"][0]["answer"]))
    recorded = manifest["examples"][0]["answer"][field]
    manifest["examples"][0]["answer"][field] = "something else"  # as if the model had answered this when saved
    mf.write_text(json.dumps(manifest))
    expected = rf"example '{name}': answer.{field}: recorded 'something else', got {re.escape(repr(recorded))}"
    with pytest.raises(GoldenError, match=expected):
        build(checkout)
    write_zip(pkg, package_files(pkg), tmp_path / "changed.zip")  # the zip the build refused to write
    with pytest.raises(GoldenError, match=expected):
        smoke(tmp_path / "changed.zip")


def test_a_replaced_model_with_a_rewritten_sha256_is_caught_by_its_golden_examples(checkout):
    from sklearn.dummy import DummyClassifier

    pkg, mf = checkout / "deployment_package", manifest_of(checkout)
    manifest = json.loads(mf.read_text())
    if not manifest.get("examples"):
        pytest.skip("the installed model was saved without golden examples")
    model = pickle.loads((pkg / "model1.pkl").read_bytes())
    stand_in = DummyClassifier(strategy="constant", constant=model.classes_[0]).fit([[0.0] * 625] * 2, model.classes_[:2])
    (pkg / "model1.pkl").write_bytes(pickle.dumps(stand_in, protocol=5))
    mf.write_text(json.dumps({**manifest, "sha256": sha256_file(pkg / "model1.pkl")}))  # by hand, as a user might
    with pytest.raises(GoldenError, match=r"answered \d+ thing\(s\) differently .*\n  example '"):
        build(checkout)


def hog_features(x):
    return x


def test_a_model_that_needs_a_notebook_function_is_refused_by_the_build(checkout, monkeypatch):
    import __main__
    from sklearn.preprocessing import FunctionTransformer

    monkeypatch.setattr(hog_features, "__module__", "__main__")  # as when the function is defined in a notebook
    monkeypatch.setattr(__main__, "hog_features", hog_features, raising=False)
    pkg, mf = checkout / "deployment_package", manifest_of(checkout)
    (pkg / "model1.pkl").write_bytes(pickle.dumps(FunctionTransformer(hog_features), protocol=5))
    mf.write_text(json.dumps({**json.loads(mf.read_text()), "sha256": sha256_file(pkg / "model1.pkl")}))
    with pytest.raises(PackageError, match="hog_features is defined in __main__ .* move it into libraries/prcvd/"):
        build(checkout)


def _answering(built_zip: Path, out: Path, model_version: str) -> Path:
    "A copy of the fixture zip whose model answers another `model_version` than its golden examples recorded."
    with zipfile.ZipFile(built_zip) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "deployment_package/deployment.py":
                body = body.replace(b'"cascade-only"', f'"{model_version}"'.encode())
            dst.writestr(item, body)
    return out


def test_the_local_servers_build_replays_the_golden_examples(built_zip, tmp_path):
    token = prepare(tmp_path / "data", built_zip, "good")
    prepare(tmp_path / "data", _answering(built_zip, tmp_path / "changed.zip", "cascade-v2"), "changed")
    with running_server(settings(tmp_path / "data")) as url:  # it builds both before it serves
        client, core = api(url, token)
        good, changed = (core.revisions_list("local", d, "v1")[0] for d in ("good", "changed"))
        versions = [core.deployment_versions_get("local", d, "v1").status for d in ("good", "changed")]
        client.close()
    assert (good.status, changed.status, versions) == ("success", "failed", ["available", "unavailable"])
    assert "answered 2 thing(s) differently from the answers recorded when the model was saved" in changed.error_message
    difference = "example 'astronaut': answer.model_version: recorded 'cascade-only', got 'cascade-v2'"
    assert difference in changed.error_message
