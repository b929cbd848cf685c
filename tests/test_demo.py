"""The demo deployment: mod.core.Deployment with the demo model `make train` installs.

These tests describe the demo, so they run only while the demo model is installed (model1.json `trained_by`
"mod train"). With a model of your own they are skipped, and tests/test_installed.py checks yours.
"""
import json
import pickle
from importlib.metadata import version

import pytest

from conftest import demo_installed
from mod.core import Deployment, load_model
from portraits import ASTRONAUT_FACE, ON_THE_FACE, iou
from prcvd.errors import ImageError, ModelError, OutputError, SpecError

pytestmark = pytest.mark.skipif(not demo_installed(), reason="the installed model is not the demo model (make train)")

EXPECTED_KEYS = ["face_found", "box", "face_count", "label", "confidence", "model_version"]


def test_model_is_a_sklearn_pipeline_loaded_from_its_manifest(package_copy):
    from sklearn.pipeline import Pipeline
    model, manifest = load_model(package_copy)
    assert isinstance(model, Pipeline)
    assert list(model.named_steps) == ["hog", "scale", "clf"]
    assert manifest["versions"]["scikit-learn"] and len(manifest["sha256"]) == 64
    # The classifier is a lenient veto (the Haar check does the rest): its threshold keeps most held-out faces.
    assert manifest["metrics"]["roc_auc"] > 0.9 and manifest["metrics"]["recall"] >= 0.95


def test_astronaut_gives_a_face_on_her_face(deployment, pictures):
    result = deployment.request({"portrait": str(pictures["astronaut"])})
    assert list(result) == EXPECTED_KEYS
    assert result["face_found"] is True and result["label"] == "face"
    assert iou(result["box"], ASTRONAUT_FACE) >= ON_THE_FACE, result["box"]
    assert result["face_count"] == 1
    assert deployment.threshold <= result["confidence"] <= 1.0
    assert result["model_version"] == deployment.manifest["sha256"][:12]


@pytest.mark.parametrize("name", ["coffee", "camera", "chelsea"])
def test_no_face(deployment, pictures, name):
    result = deployment.request({"portrait": str(pictures[name])})
    assert result["face_found"] is False and result["box"] == [] and result["face_count"] == 0
    assert result["label"] == "no_face" and 0.0 <= result["confidence"] < 1.0


def test_result_is_plain_json(deployment, pictures):
    result = deployment.request({"portrait": str(pictures["astronaut"])})
    assert json.loads(json.dumps(result)) == result


def test_input_is_checked_against_the_spec(deployment):
    with pytest.raises(SpecError, match="Input field 'portrait' is missing"):
        deployment.request({"picture": "/tmp/x.png"})
    with pytest.raises(SpecError, match="Input field 'portrait' must be a file"):
        deployment.request({"portrait": 3})


def test_bad_portrait_has_public_message(deployment, tmp_path):
    (tmp_path / "note.png").write_text("not a picture")
    with pytest.raises(ImageError) as e:
        deployment.request({"portrait": str(tmp_path / "note.png")})
    assert "not an image" in e.value.public_error_message


def test_one_predict_call_over_all_crops(deployment, monkeypatch):
    calls = []
    original = deployment.model.predict_proba
    monkeypatch.setattr(deployment.model, "predict_proba", lambda X: calls.append(len(X)) or original(X))
    from PIL import Image
    im = Image.new("L", (400, 400), 128)
    deployment.score(im, [(176, 66, 100, 100), (0, 0, 60, 60), (300, 300, 80, 80)])
    assert calls == [3]


def test_tampered_model_is_refused_at_init(package_copy):
    pkl = package_copy / "model1.pkl"
    pkl.write_bytes(pkl.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="model1.pkl does not match model1.json: sha256"):
        Deployment(str(package_copy), {})


def test_replaced_model_is_refused_even_when_it_unpickles(package_copy):
    (package_copy / "model1.pkl").write_bytes(pickle.dumps({"not": "the model"}))
    with pytest.raises(ModelError, match="changed or replaced"):
        Deployment(str(package_copy), {})


def test_other_library_versions_are_refused(package_copy):
    mf = package_copy / "model1.json"
    manifest = json.loads(mf.read_text())
    manifest["versions"]["scikit-learn"] = "0.24.2"
    mf.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=rf"trained with scikit-learn 0.24.2 \(installed: {version('scikit-learn')}\)"):
        Deployment(str(package_copy), {})


def test_missing_model_says_how_to_fix(package_copy):
    (package_copy / "model1.pkl").unlink()
    with pytest.raises(ModelError, match="model1.pkl not found .* save your model there with mod.build.model.save_model"):
        Deployment(str(package_copy), {})


def test_output_that_breaks_the_spec_is_an_error(package_copy, pictures):
    spec = json.loads((package_copy / "output_spec.json").read_text())
    spec["output_fields"].append({"name": "age", "data_type": "int"})
    (package_copy / "output_spec.json").write_text(json.dumps(spec))
    d = Deployment(str(package_copy), {})
    with pytest.raises(OutputError, match="Output field 'age' is missing"):
        d.request({"portrait": str(pictures["coffee"])})


def test_a_12_megapixel_photo_is_answered_in_its_own_pixels(deployment, pictures, tmp_path):
    # the reproduction: the astronaut at 3024x3024 in a grey 4032x3024 frame (the first model found nothing)
    from PIL import Image
    frame = Image.new("RGB", (4032, 3024), (128, 128, 128))
    frame.paste(Image.open(pictures["astronaut"]).convert("RGB").resize((3024, 3024)), (504, 0))
    frame.save(tmp_path / "phone.jpg", quality=90)
    result = deployment.request({"portrait": str(tmp_path / "phone.jpg")})
    k = 3024 / 512
    truth = (ASTRONAUT_FACE[0] * k + 504, ASTRONAUT_FACE[1] * k, ASTRONAUT_FACE[2] * k, ASTRONAUT_FACE[3] * k)
    assert result["face_found"] and iou(result["box"], truth) >= ON_THE_FACE, result


def test_two_faces_are_counted_and_the_best_one_is_boxed(deployment, pictures, tmp_path):
    from PIL import Image, ImageOps
    im = Image.open(pictures["astronaut"]).convert("RGB").crop((64, 0, 448, 512))  # her face, less of the room
    pair = Image.new("RGB", (768, 512))
    pair.paste(im, (0, 0))
    pair.paste(ImageOps.mirror(im), (384, 0))
    pair.save(tmp_path / "pair.png")
    result = deployment.request({"portrait": str(tmp_path / "pair.png")})
    left = (ASTRONAUT_FACE[0] - 64, *ASTRONAUT_FACE[1:])
    mirrored = (768 - left[0] - left[2], *left[1:])
    assert result["face_count"] == 2
    assert max(iou(result["box"], left), iou(result["box"], mirrored)) >= ON_THE_FACE, result


def test_a_portrait_turned_without_exif_is_found(deployment, pictures, tmp_path):
    from PIL import Image
    Image.open(pictures["astronaut"]).rotate(90, expand=True).save(tmp_path / "turned.png")
    result = deployment.request({"portrait": str(tmp_path / "turned.png")})
    x, y, w, h = ASTRONAUT_FACE  # turned 90 degrees counter-clockwise: (x, y) -> (y, 512 - x - w)
    assert result["face_found"] and iou(result["box"], (y, 512 - x - w, h, w)) >= ON_THE_FACE, result


@pytest.mark.parametrize("size", [(1, 1), (10, 10), (1, 5000), (30000, 2)])
def test_tiny_and_thin_pictures_have_no_face(deployment, tmp_path, size):
    from PIL import Image
    Image.new("RGB", size, "grey").save(tmp_path / "thin.jpg")
    result = deployment.request({"portrait": str(tmp_path / "thin.jpg")})
    assert (result["face_found"], result["face_count"], result["confidence"]) == (False, 0, 0.0)
