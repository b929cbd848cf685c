"""bench/evalset.py: the evaluation never uses a picture or an LFW face the default model trains on."""
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import evalset  # noqa: E402


def test_no_evaluation_picture_is_a_training_background():
    conf = yaml.safe_load((ROOT / "train-conf.yml").read_text())
    assert set(evalset.NONFACES).isdisjoint(conf["augment"]["background_images"])
    assert set(evalset.PORTRAITS).isdisjoint(conf["augment"]["background_images"])


def test_held_out_lfw_faces_are_none_of_the_training_faces():
    from skimage import data

    from mod.build.train import lfw_split
    lfw = np.load(Path(data.__file__).parent / "lfw_subset.npy")
    train_idx, _ = lfw_split(yaml.safe_load((ROOT / "train-conf.yml").read_text())["split"]["eval_every"])
    faces, nonfaces = evalset.lfw_eval()
    assert len(faces) == 25 and len(nonfaces) == 25
    trained = lfw[train_idx].reshape(len(train_idx), -1)
    for held in np.concatenate([faces, nonfaces]).reshape(50, -1):
        assert not (np.abs(trained - held).max(axis=1) == 0).any()


def test_a_turned_box_follows_the_face():
    im = Image.new("RGB", (200, 100), "black")
    im.paste((255, 255, 255), (20, 30, 60, 50))  # a white 40x20 box
    turned, [box] = evalset._rotate(im, [(20, 30, 40, 20)], 90)
    ys, xs = np.nonzero(np.asarray(turned)[:, :, 0] > 200)
    assert abs(box[0] - xs.min()) <= 1 and abs(box[1] - ys.min()) <= 1 and box[2:] == (20, 40)


def test_placing_a_portrait_in_a_scene_moves_and_scales_its_box():
    rng = np.random.default_rng(0)
    scene = Image.new("RGB", (1600, 1200), "grey")
    out, [box] = evalset._place(Image.new("RGB", (512, 512)), [(100, 100, 100, 100)], scene, 1 / 8, rng)
    assert out.size == (1600, 1200) and box[2] == 200
