"""prcvd.faces: the cascade finds the astronaut's face and nothing in pictures without one."""
import numpy as np
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


# --- the search the deployment runs: engines, working copies, turns, passes ----------------------------------

from portraits import ASTRONAUT_FACE, ON_THE_FACE, iou  # noqa: E402
from prcvd.faces import (HaarCheck, find_faces, search_passes, turn, unturn_box,  # noqa: E402
                         working_copy, working_side)


@pytest.fixture(scope="module")
def opencv():
    return load_cascade("opencv")


@pytest.fixture(scope="module")
def astronaut(pictures):
    return Image.open(pictures["astronaut"]).convert("L")


def every_box_is_a_face(image, boxes):
    return [1.0] * len(boxes)


def test_opencv_runs_the_same_cascade_and_finds_her_face(opencv, astronaut):
    found = find_faces(astronaut, astronaut.size, opencv, every_box_is_a_face, 0.5, min_face=1 / 6)
    assert iou(found.boxes[0], ASTRONAUT_FACE) >= ON_THE_FACE, found


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="Cascade engine 'dlib' is unknown; use 'skimage' or 'opencv'"):
        load_cascade("dlib")


def test_working_side_fits_the_smallest_face_to_the_window():
    assert working_side(1 / 12) == 288 and working_side(1 / 6) == 144


def test_working_copy_shrinks_large_and_enlarges_tiny_pictures(astronaut):
    assert working_copy(astronaut, 144).size == (144, 144)
    assert working_copy(astronaut.resize((64, 48)), 288).size == (288, 216)


@pytest.mark.parametrize("angle", [90, 180, 270, 22.5, -22.5])
def test_a_box_found_in_a_turned_copy_comes_back_where_it_was(astronaut, angle):
    turned = turn(astronaut, angle)
    x, y, w, h = ASTRONAUT_FACE
    c = np.array([x + w / 2 - 256, y + h / 2 - 256])
    a = np.deg2rad(angle)  # where the face's centre lands in the turned copy (counter-clockwise turn)
    cx = c[0] * np.cos(a) + c[1] * np.sin(a) + turned.width / 2
    cy = -c[0] * np.sin(a) + c[1] * np.cos(a) + turned.height / 2
    ww, hh = (h, w) if angle % 180 == 90 else (w, h)
    back = unturn_box((cx - ww / 2, cy - hh / 2, ww, hh), angle, turned.size, astronaut.size)
    assert np.allclose(back, ASTRONAUT_FACE, atol=1e-6)


def test_passes_go_from_cheap_to_dear():
    assert search_passes(1 / 12, 1 / 6, (90, -22.5), 1 / 8) == [(0, 1 / 6), (0, 1 / 12), (90, 1 / 6), (-22.5, 1 / 8)]
    assert search_passes(1 / 6) == [(0, 1 / 6)]


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_portrait_turned_without_exif_is_found_and_boxed_in_its_own_pixels(opencv, astronaut, angle):
    turned = astronaut.rotate(angle, expand=True)
    found = find_faces(turned, turned.size, opencv, every_box_is_a_face, 0.5, min_face=1 / 6, rotations=(90, 270, 180))
    assert found.angle == (360 - angle) % 360  # turning it back finds her
    truth = unturn_box(ASTRONAUT_FACE, -angle, astronaut.size, turned.size)
    assert iou(found.boxes[0], truth) >= ON_THE_FACE, (found, truth)


def test_a_face_smaller_than_a_sixth_of_the_picture_is_found(opencv, astronaut):
    # the reproduction, at a quarter of its size: the portrait fills the height of a wider grey frame
    frame = Image.new("L", (1008, 756), 128)
    frame.paste(astronaut.resize((756, 756)), (126, 0))
    found = find_faces(frame, frame.size, opencv, every_box_is_a_face, 0.5, min_face=1 / 12)
    truth = tuple(v * 756 / 512 for v in ASTRONAUT_FACE)
    assert iou(found.boxes[0], (truth[0] + 126, *truth[1:])) >= ON_THE_FACE, found


def test_reduced_decodes_report_boxes_in_the_originals_pixels(opencv, astronaut):
    small = astronaut.resize((256, 256))
    found = find_faces(small, (1024, 1024), opencv, every_box_is_a_face, 0.5, min_face=1 / 6)
    assert iou(found.boxes[0], tuple(2 * v for v in ASTRONAUT_FACE)) >= ON_THE_FACE, found


def test_two_faces_are_both_reported(opencv, astronaut):
    pair = Image.new("L", (1024, 512))
    pair.paste(astronaut, (0, 0))
    pair.paste(astronaut.transpose(Image.FLIP_LEFT_RIGHT), (512, 0))
    found = find_faces(pair, pair.size, opencv, every_box_is_a_face, 0.5, min_face=1 / 12, min_neighbors=2)
    assert len(found.boxes) == 2, found


def test_unconfirmed_candidates_are_no_faces_but_their_best_score_is_kept(opencv, astronaut):
    found = find_faces(astronaut, astronaut.size, opencv, lambda im, b: [0.3] * len(b), 0.5, min_face=1 / 6)
    assert found.boxes == [] and found.best == 0.3


def test_the_haar_check_agrees_on_her_face_and_not_on_the_rocket(astronaut):
    check = HaarCheck()
    assert check(astronaut, [ASTRONAUT_FACE, (400, 40, 80, 80)]).tolist() == [True, False]


def test_a_confirm_check_can_veto_a_face(opencv, astronaut):
    found = find_faces(astronaut, astronaut.size, opencv, every_box_is_a_face, 0.5, min_face=1 / 6,
                       confirm=lambda im, boxes: [False] * len(boxes))
    assert found.boxes == [] and found.best == 1.0


def test_an_unknown_haar_cascade_says_where_to_look():
    with pytest.raises(ValueError, match="OpenCV ships no Haar cascade named 'nose.xml'"):
        HaarCheck("nose.xml")
