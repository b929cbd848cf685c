"""The demo's expected answer, stated once: where the astronaut's face is (annotated by hand, forehead to chin and
ear to ear, in the 512 px picture scikit-image ships; mod.build.evalset uses the same box). Tests accept any box that
overlaps it as a face detector's box would, not the pixels one model version happens to return."""
ASTRONAUT_FACE = (175, 62, 102, 108)  # x, y, width, height
ON_THE_FACE = 0.5  # intersection over union a box needs with ASTRONAUT_FACE


def iou(a, b) -> float:
    "Intersection over union of two (x, y, width, height) boxes."
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
