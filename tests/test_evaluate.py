"""mod eval on deployments other than the demo: it refuses or reports, in a line, and never crashes."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mod.build.evalset import NONFACES, PORTRAITS, build
from mod.build.evaluate import evaluate
from mod.build.smoke import SmokeError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
MOD = Path(sys.executable).parent / "mod"  # the venv's console script


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    "One portrait and one picture without a face, under every transformation, with the held-out LFW pictures."
    return build(tmp_path_factory.mktemp("set"), 0, chosen_portraits={"astronaut": PORTRAITS["astronaut"]},
                 chosen_nonfaces={"coffee": NONFACES["coffee"]}).folder


def package(folder: Path, request_body: str) -> Path:
    "A face-portrait deployment folder (the fixture's specs, prcvd) whose `request` is `request_body`."
    pkg = folder / "pkg"
    shutil.copytree(FIXTURES / "portrait", pkg)
    shutil.copytree(ROOT / "libraries" / "prcvd", pkg / "libraries" / "prcvd")
    (pkg / "deployment.py").write_text(
        "class Deployment:\n    def __init__(self, base_directory, context):\n        pass\n\n"
        f"    def request(self, data):\n{request_body}")
    return pkg


def test_a_deployment_of_another_interface_is_refused_in_one_line():
    done = subprocess.run([MOD, "eval", str(FIXTURES / "faults")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "faults is not a face-portrait deployment (inputs: plain" in done.stderr


def test_a_deployment_without_a_manifest_is_evaluated_with_a_note(small_set, tmp_path, capsys):
    pkg = package(tmp_path, "        return {'face_found': 'coffee' not in data['portrait'], 'box': [175, 62, 102, 108],\n"
                            "                'label': 'x', 'confidence': 0.5, 'model_version': 'fixture'}\n")
    figures = evaluate({"fixture": str(pkg)}, evalset=small_set)["fixture"]
    out = capsys.readouterr().out
    assert "fixture: model1.json has no `data`" in out and "families" not in out
    assert figures["families"]["identity"]["found"] == 1  # the astronaut's box: on her face, beside her mirror's
    assert figures["false_positives"] == 5 and figures["errors"] == 0  # the LFW strips: "face" everywhere but coffee


def test_failed_requests_are_counted_and_reported(small_set, tmp_path, capsys):
    pkg = package(tmp_path, "        raise ValueError('no')\n")
    figures = evaluate({"raises": str(pkg)}, evalset=small_set)["raises"]
    assert figures["errors"] == figures["pictures"] and figures["recall"] == 0
    assert "raises: 128 request(s) failed, e.g. astronaut-identity: An exception occurred" in capsys.readouterr().out


def test_a_deployment_that_dies_stops_the_evaluation_with_a_message(small_set, tmp_path):
    pkg = package(tmp_path, "        import os; os._exit(3)\n")
    with pytest.raises(SmokeError, match="process ended during a request, or did not answer within 300 s .exit code 3"):
        evaluate({"dies": str(pkg)}, evalset=small_set)
