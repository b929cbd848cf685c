"""Benchmark the Deployment (issue: foundation). Prints figures; asserts nothing.

1. `Deployment.request` on the astronaut vs the same decode + search (`prcvd.faces.find_faces`) done by hand,
   median of many calls interleaved in one run, as a ratio (target <= 1.10).
2. Cold start: a fresh process from start to the first answer vs a process that only imports numpy,
   scikit-learn, scikit-image, Pillow and OpenCV (target <= 1.5x), medians of several runs each.

Run: .venv/bin/python bench/bench_deployment.py [--calls 200] [--runs 7]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deployment_package"


def median_ms(samples):
    return statistics.median(samples) * 1000


def warm(calls: int, portrait: str):
    from mod.core import Deployment
    from prcvd.faces import find_faces, working_side
    from prcvd.images import load_reduced

    d = Deployment(str(PACKAGE), {})
    side = working_side(d.search["min_face"]) if d.draft else None

    def by_hand():
        image, full_size = load_reduced(portrait, side, gray=True)
        return find_faces(image, full_size, d.cascade, d.score, d.threshold, **d.search)

    ours, hand = [], []
    for _ in range(5):
        d.request({"portrait": portrait}), by_hand()
    for _ in range(calls):  # interleaved, so drift on a shared machine hits both alike
        t = time.perf_counter(); d.request({"portrait": portrait}); ours.append(time.perf_counter() - t)
        t = time.perf_counter(); by_hand(); hand.append(time.perf_counter() - t)
    o, h = median_ms(ours), median_ms(hand)
    print(f"warm request   Deployment.request {o:7.2f} ms | by hand {h:7.2f} ms | ratio {o / h:.3f} (target <= 1.10)")


COLD = """import sys; sys.path.insert(0, {pkg!r}); sys.path.insert(0, {libs!r})
from deployment import Deployment
print(Deployment({pkg!r}, {{}}).request({{"portrait": {img!r}}})["face_found"])"""
IMPORTS = "import numpy, sklearn, skimage, PIL.Image, cv2"
IMPORTS_USED = "import numpy, sklearn.svm, sklearn.pipeline, sklearn.calibration, skimage.feature, PIL.Image, cv2"


def cold(runs: int, portrait: str):
    code = COLD.format(pkg=str(PACKAGE), libs=str(PACKAGE / "libraries"), img=portrait)
    cases = {"first answer": code, "imports only": IMPORTS, "imports of what is used": IMPORTS_USED}
    times = {k: [] for k in cases}
    for _ in range(runs):
        for name, src in cases.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", src], check=True, capture_output=True)
            times[name].append(time.perf_counter() - t)
    first = median_ms(times["first answer"])
    for name in ("imports only", "imports of what is used"):
        base = median_ms(times[name])
        print(f"cold start     first answer {first:7.1f} ms | {name} {base:7.1f} ms | ratio {first / base:.2f}"
              + (" (target <= 1.5)" if name == "imports only" else ""))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image
        from skimage import data
        portrait = str(Path(tmp) / "astronaut.png")
        Image.fromarray(data.astronaut()).save(portrait)
        warm(a.calls, portrait)
        cold(a.runs, portrait)
