"""Face detection with the frontal-face LBP cascade scikit-image ships, and crops for the face classifier.

The cascade finds candidates; the classifier (trained on crops like these) checks them and gives a confidence.
"""
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the original image


def load_cascade():
    "The frontal-face LBP cascade shipped inside scikit-image (a Cascade can't be pickled: build it at start-up)."
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


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
