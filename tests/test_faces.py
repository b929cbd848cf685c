"""prcvd.faces: the cascade finds the astronaut's face and nothing in pictures without one."""
import pytest
from PIL import Image

from prcvd.faces import crop_faces, detect_faces, load_cascade


@pytest.fixture(scope="module")
def cascade():
    return load_cascade()


def test_astronaut_face_box_lies_on_her_face(pictures, cascade):
    boxes = detect_faces(Image.open(pictures["astronaut"]), cascade)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    # Her face spans about x 175-275, y 60-170 in the 512 px picture.
    assert 160 <= x <= 200 and 50 <= y <= 90 and 80 <= w <= 130 and w == h


@pytest.mark.parametrize("name", ["coffee", "camera", "chelsea"])
def test_no_face_in_pictures_without_one(pictures, cascade, name):
    assert detect_faces(Image.open(pictures[name]), cascade) == []


def test_boxes_are_in_original_pixels(pictures, cascade):
    small = detect_faces(Image.open(pictures["astronaut"]), cascade)[0]
    big = detect_faces(Image.open(pictures["astronaut"]).resize((1024, 1024)), cascade)[0]
    assert abs(big[0] - 2 * small[0]) <= 8 and abs(big[2] - 2 * small[2]) <= 16


def test_tiny_image_has_no_face(cascade):
    assert detect_faces(Image.new("RGB", (10, 10)), cascade) == []


def test_crops_are_flat_rows_in_unit_range(pictures):
    im = Image.open(pictures["astronaut"])
    crops = crop_faces(im, [(176, 66, 100, 100), (0, 0, 30, 30)], size=(25, 25), margin=0.1)
    assert crops.shape == (2, 625)
    assert 0 <= crops.min() and crops.max() <= 1


def test_crop_margin_is_clipped_at_the_border(pictures):
    im = Image.open(pictures["astronaut"])
    assert crop_faces(im, [(0, 0, 50, 50)], margin=0.5).shape == (1, 625)
