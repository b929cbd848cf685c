"""`make train DATASET=...`: the default pipeline trained on a user's own labelled pictures, end to end (issue 11).

It runs in the fixture checkout, whose interface is the demo's (a portrait in): the demo pipeline's golden examples
are portraits, whatever interface the installed deployment has."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from skimage import data

from conftest import ROOT

MOD = Path(sys.executable).parent / "mod"


def small_conf(tmp: Path) -> Path:
    "The demo's train-conf.yml, made quick: no augmented copies, no hard negatives, no evaluation, 2 folds."
    conf = yaml.safe_load((ROOT / "train-conf.yml").read_text())
    conf["augment"] = {"flip_faces": True, "background_images": ["brick"], "patches_per_image": 10}
    conf.update(cv_folds=2, calibration_folds=2, threshold=0.5)
    conf.pop("evaluation", None)
    path = tmp / "small.yml"
    path.write_text(yaml.safe_dump(conf))
    return path


def test_train_on_a_folder_of_labelled_pictures(tmp_path, fixture_checkout):
    lfw = data.lfw_subset()
    for label, images in (("face", lfw[:30]), ("no_face", lfw[100:130])):
        (tmp_path / "mine" / label).mkdir(parents=True)
        for i, im in enumerate(images):  # larger than the crop, as a user's pictures are
            Image.fromarray((im * 255).astype(np.uint8)).resize((60, 60)).save(tmp_path / "mine" / label / f"{i}.jpg")
    run = subprocess.run([str(MOD), "train", "--dataset", str(tmp_path / "mine"), "--conf", str(small_conf(tmp_path)),
                          "--out", str(tmp_path / "artefacts"), "--no_install", "--root", str(fixture_checkout)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "data: 60 faces, 40 non-faces" in run.stdout  # 30 faces and their mirrors; 30 of theirs and 10 patches
    (out,) = (tmp_path / "artefacts").iterdir()
    manifest = json.loads((out / "model1.json").read_text())
    assert manifest["data"]["source"] == "DATASET mine: 30 faces, 30 non-faces"
    assert 0 <= manifest["metrics"]["accuracy"] <= 1 and manifest["metrics"]["cv_folds"] == 2
    assert [e["name"] for e in manifest["examples"]] == ["astronaut", "coffee"]  # answered by the packaged pipeline
    assert (out / "evaluation.png").stat().st_size > 0


def test_a_dataset_without_no_face_pictures_is_refused_before_training(tmp_path):
    (tmp_path / "mine" / "face").mkdir(parents=True)
    run = subprocess.run([str(MOD), "train", "--dataset", str(tmp_path / "mine"), "--out", str(tmp_path / "a"),
                          "--no_install"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "has no no_face/ sub-folder" in run.stderr and "Traceback" not in run.stderr
