"""mod.build.evalset: the evaluation never uses a picture or an LFW face the default model trains on."""
from pathlib import Path

import numpy as np
import yaml
from skimage import data

from mod.build import evalset
from mod.build.evalset import lfw_split

ROOT = Path(__file__).resolve().parents[1]
CONF = yaml.safe_load((ROOT / "train-conf.yml").read_text())


def test_no_evaluation_picture_is_a_training_background():
    assert set(evalset.NONFACES).isdisjoint(CONF["augment"]["background_images"])
    assert set(evalset.PORTRAITS).isdisjoint(CONF["augment"]["background_images"])


def test_held_out_lfw_faces_are_none_of_the_training_faces():
    lfw = np.load(Path(data.__file__).parent / "lfw_subset.npy")
    train_idx, _ = lfw_split(CONF["split"]["eval_every"])
    faces, nonfaces = evalset.lfw_eval(CONF["split"]["eval_every"])
    assert len(faces) == 25 and len(nonfaces) == 25
    trained = lfw[train_idx].reshape(len(train_idx), -1)
    for held in np.concatenate([faces, nonfaces]).reshape(50, -1):
        assert not (np.abs(trained - held).max(axis=1) == 0).any()
