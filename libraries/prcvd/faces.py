"""Face detection with the frontal-face LBP cascade scikit-image ships, and crops for the face classifier.

The cascade finds candidates; the classifier (trained on crops like these) checks them and gives a confidence.
`find_faces` searches a working copy sized from the smallest face wanted, upright first, then turned copies
while no candidate is confirmed, and maps the boxes back to the original's pixels.
"""
import math
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the original image
WINDOW = 24  # the cascade's window: the smallest face it can see, in pixels of the picture it scans


def load_cascade(engine: str = "skimage", threads: int = 1):
    """The frontal-face LBP cascade shipped inside scikit-image, run by scikit-image or by OpenCV (the same weights;
    OpenCV's detector is about 4x faster). Neither can be pickled: build it at start-up."""
    if engine == "opencv":
        return OpenCVCascade(threads)
    if engine != "skimage":
        raise ValueError(f"Cascade engine '{engine}' is unknown; use 'skimage' or 'opencv'.")
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


class OpenCVCascade:
    "scikit-image's LBP face cascade run by `cv2.CascadeClassifier`; `detect` has the same meaning as for skimage."

    def __init__(self, threads: int = 1):  # one thread: UbiOps instances and our workers answer one request each
        import cv2
        from skimage import data

        # scikit-image's copy misspells one tag (`featuhreParams`), which OpenCV refuses: read it fixed, from memory.
        with open(data.lbp_frontal_face_cascade_filename()) as f:
            xml = f.read().replace("featuhreParams>", "featureParams>")
        storage = cv2.FileStorage(xml, cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_MEMORY)
        self.cascade = cv2.CascadeClassifier()
        if not self.cascade.read(storage.getFirstTopLevelNode()):
            raise RuntimeError("OpenCV could not read scikit-image's LBP face cascade.")
        cv2.setNumThreads(threads)

    def detect(self, gray: np.ndarray, min_size: int, scale_factor: float = 1.1, min_neighbors: int = 3,
               max_size: int | None = None) -> list[Box]:
        "Boxes of faces `min_size` to `max_size` pixels across in the uint8 array `gray`."
        found = self.cascade.detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                              minSize=(min_size, min_size), maxSize=(max_size or 0, max_size or 0))
        return [tuple(int(v) for v in b) for b in found]


class HaarCheck:
    """A second opinion on candidate boxes from one of the Haar face cascades that ship inside OpenCV's wheel: it
    makes different mistakes from the LBP cascade, so clutter that fools one rarely fools both."""

    def __init__(self, name: str = "haarcascade_frontalface_alt2.xml", min_neighbors: int = 2, pad: float = 0.25,
                 scale_factor: float = 1.1):
        import cv2

        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if self.cascade.empty():
            raise ValueError(f"OpenCV ships no Haar cascade named '{name}'; see the files in cv2.data.haarcascades.")
        self.min_neighbors, self.pad, self.scale_factor = min_neighbors, pad, scale_factor

    def __call__(self, gray: Image.Image, boxes: list) -> np.ndarray:
        "True for each box in which the Haar cascade also finds a face of about its size."
        a = np.asarray(gray)
        out = np.zeros(len(boxes), bool)
        for i, (x, y, w, h) in enumerate(boxes):
            d = round(max(w, h) * self.pad)
            region = a[max(0, y - d):y + h + d, max(0, x - d):x + w + d]
            found = self.cascade.detectMultiScale(region, scaleFactor=self.scale_factor,
                                                  minNeighbors=self.min_neighbors, minSize=(int(w * 0.7),) * 2,
                                                  maxSize=(int(w * 1.4) + 1,) * 2)
            out[i] = len(found) > 0
        return out


def candidates(cascade, gray: np.ndarray, min_size: int, scale_factor: float, min_neighbors: int,
               max_size: int | None = None) -> list[Box]:
    "Candidate face boxes from either engine in the uint8 array `gray`, `min_size` to `max_size` pixels across."
    if isinstance(cascade, OpenCVCascade):
        return cascade.detect(gray, min_size, scale_factor, min_neighbors, max_size)
    side = min(max_size or max(gray.shape), max(gray.shape))
    found = cascade.detect_multi_scale(img=gray.astype(np.float32) / 255.0, scale_factor=scale_factor, step_ratio=1,
                                       min_size=(min_size, min_size), max_size=(side, side),
                                       min_neighbor_number=min_neighbors)
    return [(d["c"], d["r"], d["width"], d["height"]) for d in found]


def detect_faces(
    image: Image.Image,  # RGB or L portrait
    cascade,  # from `load_cascade`
    max_side: int = 256,  # detect on a copy no larger than this: 4x faster than 512 px, same faces on portraits
    min_face: float = 1 / 6,  # smallest face, as a fraction of the long side (portraits have large faces)
    scale_factor: float = 1.2,
    min_neighbors: int = 4,  # overlapping detections needed; fewer lets clutter through
) -> list[Box]:
    "Face boxes in original-image pixels, largest first."
    gray = image.convert("L")
    scale = min(1.0, max_side / max(gray.size))
    if scale < 1.0:
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))), Image.BOX)
    side = max(gray.size)
    smallest = min(max(24, round(side * min_face)), side)
    found = cascade.detect_multi_scale(
        img=np.asarray(gray, dtype=np.float32) / 255.0, scale_factor=scale_factor, step_ratio=1,
        min_size=(smallest, smallest), max_size=(side, side), min_neighbor_number=min_neighbors)
    boxes = [tuple(round(v / scale) for v in (d["c"], d["r"], d["width"], d["height"])) for d in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def crop_faces(
    image: Image.Image,  # the portrait the boxes refer to
    boxes: list[Box],
    size: tuple[int, int] = (25, 25),  # the classifier's input (height, width)
    margin: float = 0.0,  # widen each box by this fraction of its size on every side
) -> np.ndarray:
    "Grayscale crops in [0, 1], resized to `size` and flattened: shape (len(boxes), height*width)."
    gray = image.convert("L")
    h, w = size
    crops = np.empty((len(boxes), h * w), dtype=np.float64)
    for i, (x, y, bw, bh) in enumerate(boxes):
        dx, dy = round(bw * margin), round(bh * margin)
        region = (max(0, x - dx), max(0, y - dy), min(gray.width, x + bw + dx), min(gray.height, y + bh + dy))
        crops[i] = np.asarray(gray.crop(region).resize((w, h), Image.BILINEAR), dtype=np.float64).ravel() / 255.0
    return crops


def working_side(min_face: float) -> int:
    "Long side of the copy to search, so that a face `min_face` of the long side fills the cascade's window."
    return math.ceil(WINDOW / min_face)


def working_copy(image: Image.Image, side: int) -> Image.Image:
    "A grayscale copy `side` pixels on its long side: shrunk with a box filter, or enlarged (a tiny picture's face)."
    gray = image if image.mode == "L" else image.convert("L")
    k = side / max(gray.size)
    if abs(k - 1) < 1e-3:
        return gray
    size = (max(1, round(gray.width * k)), max(1, round(gray.height * k)))
    return gray.resize(size, Image.BOX if k < 1 else Image.BILINEAR)


def turn(gray: Image.Image, angle: float) -> Image.Image:
    "`gray` turned `angle` degrees counter-clockwise on a canvas that holds all of it (mid-grey corners)."
    if angle % 90 == 0:
        return gray.rotate(angle, expand=True)  # exact: a transpose
    return gray.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=128)


def unturn_box(box: Box, angle: float, turned_size: tuple, size: tuple) -> tuple:
    "A box found in the copy turned by `angle` (size `turned_size`), moved back to the unturned copy (`size`)."
    x, y, w, h = box
    a = math.radians(angle)
    cx, cy = x + w / 2 - turned_size[0] / 2, y + h / 2 - turned_size[1] / 2
    ox = cx * math.cos(a) - cy * math.sin(a) + size[0] / 2
    oy = cx * math.sin(a) + cy * math.cos(a) + size[1] / 2
    if angle % 180 == 90:
        w, h = h, w
    return ox - w / 2, oy - h / 2, w, h


class Found(NamedTuple):
    boxes: list  # confirmed faces in original pixels, most face-like first ([] when none)
    scores: list  # their classifier scores
    best: float  # the highest score of any candidate, confirmed or not (0.0 when the cascade found none)
    angle: float  # the turn of the copy that found them


def search_passes(min_face: float, coarse_min_face: float | None = None, rotations: tuple = (),
                  rotation_min_face: float | None = None) -> list:
    """(turn, smallest face) for each pass, in order: large faces upright on a small copy (cheap, and most portraits
    end there), every face down to `min_face` upright, then each turn. A right-angle turn is the coarse copy turned
    exactly; a tilted copy is interpolated and its faces keep a few degrees of tilt, so it gets `rotation_min_face`
    (a larger copy)."""
    coarse = coarse_min_face if coarse_min_face and coarse_min_face > min_face else None
    tilted = max(min_face, rotation_min_face or min_face)
    return ([(0, coarse)] if coarse else []) + [(0, min_face)] + [
        (angle, coarse or tilted if angle % 90 == 0 else tilted) for angle in rotations]


def find_faces(
    image: Image.Image,  # the portrait, possibly a reduced decode of the original
    full_size: tuple,  # the original's (width, height): boxes are reported in its pixels
    cascade,  # from `load_cascade`
    score: Callable,  # (grayscale copy, its candidate boxes) -> a face score per box: the classifier
    threshold: float,  # a candidate scoring at least this is a face
    min_face: float = 1 / 12,  # smallest face to find upright, as a fraction of the long side
    coarse_min_face: float | None = None,  # faces at least this large are looked for first, on a smaller copy
    rotations: tuple = (),  # turns (degrees, counter-clockwise) tried in order while no face is confirmed
    rotation_min_face: float | None = None,  # smallest face in the turned copies (a smaller copy: cheaper)
    scale_factor: float = 1.1,
    min_neighbors: int = 3,
    confirm: Callable | None = None,  # (copy, boxes) -> bool per box: a second check a face must also pass
    max_side: int | None = None,  # the first default model's fixed working copy: at most this, never enlarged
) -> Found:
    "Search pass by pass (`search_passes`); the first pass with a confirmed face answers, with all its faces."
    copies, best = {}, 0.0  # one copy per face size serves every turn
    for angle, mf in search_passes(min_face, coarse_min_face, rotations, rotation_min_face):
        side = min(max_side, max(image.size)) if max_side else working_side(mf)
        base = copies[mf] if mf in copies else copies.setdefault(mf, working_copy(image, side))
        turned = turn(base, angle) if angle else base
        long = max(base.size)
        boxes = candidates(cascade, np.asarray(turned), max(WINDOW, round(long * mf)), scale_factor, min_neighbors)
        if not boxes:
            continue
        scores = np.asarray(score(turned, boxes))
        best = max(best, float(scores.max()))
        keep = [i for i in np.argsort(-scores) if scores[i] >= threshold]
        if keep and confirm is not None:
            keep = [i for i, ok in zip(keep, confirm(turned, [boxes[i] for i in keep])) if ok]
        if keep:
            k = full_size[0] / base.width
            out = [unturn_box(boxes[i], angle, turned.size, base.size) if angle else boxes[i] for i in keep]
            return Found([_clip(tuple(v * k for v in b), full_size) for b in out],
                         [float(scores[i]) for i in keep], best, angle)
    return Found([], [], best, 0.0)


def _clip(box, size) -> Box:
    "Round a box to whole pixels inside the picture."
    x, y, w, h = box
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(size[0], round(x + w)), min(size[1], round(y + h))
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))
