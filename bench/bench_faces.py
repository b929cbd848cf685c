"""Benchmark the face search (issue 12) against the first default model and scikit-image's example. Prints figures.

All timings are medians of calls interleaved in one run, so load on the shared machine hits every side alike:
1. A 12 MP phone JPEG (the astronaut at 3024x3024 in a grey 4032x3024 frame, the issue's reproduction), answered by
   the first model and by ours (targets: <= 40 ms and <= 0.3x the first model).
2. The astronaut (512 px PNG): `Deployment.request` against the same work done with the settings of scikit-image's
   face-detection example (`Cascade.detect_multi_scale(scale_factor=1.2, step_ratio=1, min_size=(60, 60),
   max_size=(123, 123))` on the full-resolution picture, then the same crops and classifier) (target <= 0.35), and
   the first model's `Deployment.request` for reference.

In-process (`Deployment.request` called here), unlike `make eval`: scikit-image's example is not a deployment, and
the three are compared call by call.

Run: .venv/bin/python bench/bench_faces.py [--first /tmp/first/deployment_package] [--package deployment_package]
[--calls 30] (rebuild the first model as bench/first-model.yml says).
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def interleaved(calls: int, **fns) -> dict:
    "name -> median milliseconds, the functions called in turn `calls` times after two warm-up rounds."
    for _ in range(2):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(calls):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def skimage_example(d, path: str):
    "What scikit-image's face-detection example does, on the full-resolution picture, then the same classifier."
    from skimage import data
    from skimage.feature import Cascade

    from prcvd.faces import crop_faces
    from prcvd.images import load_image

    cascade = Cascade(data.lbp_frontal_face_cascade_filename())

    def run():
        image = load_image(path)
        gray = __import__("numpy").asarray(image.convert("L"), dtype="float32") / 255.0
        found = cascade.detect_multi_scale(img=gray, scale_factor=1.2, step_ratio=1, min_size=(60, 60),
                                           max_size=(123, 123))
        boxes = [(f["c"], f["r"], f["width"], f["height"]) for f in found]
        if boxes:
            d.model.predict_proba(crop_faces(image, boxes, tuple(d.crop["size"]), d.crop["margin"]))
        return boxes
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--first", default="/tmp/first/deployment_package", help="the first model's deployment folder")
    ap.add_argument("--package", default=str(ROOT / "deployment_package"), help="our deployment folder")
    ap.add_argument("--calls", type=int, default=30)
    a = ap.parse_args()
    from PIL import Image
    from skimage import data

    from mod.core import Deployment

    first, ours = Deployment(a.first, {}), Deployment(a.package, {})
    with tempfile.TemporaryDirectory() as tmp:
        phone, astronaut = str(Path(tmp) / "phone.jpg"), str(Path(tmp) / "astronaut.png")
        frame = Image.new("RGB", (4032, 3024), (128, 128, 128))
        frame.paste(Image.fromarray(data.astronaut()).resize((3024, 3024), Image.LANCZOS), (504, 0))
        frame.save(phone, quality=90)
        Image.fromarray(data.astronaut()).save(astronaut)
        for name, d in (("first model", first), ("ours", ours)):
            r = d.request({"portrait": phone})
            print(f"12 MP JPEG answer, {name:<11}: face_found {r['face_found']}, box {r['box']}")
        t = interleaved(a.calls, first=lambda: first.request({"portrait": phone}),
                        ours=lambda: ours.request({"portrait": phone}))
        print(f"12 MP JPEG     first model {t['first']:7.1f} ms | ours {t['ours']:6.1f} ms | ratio "
              f"{t['ours'] / t['first']:.3f} (targets: <= 40 ms, <= 0.3)")
        t = interleaved(a.calls, ours=lambda: ours.request({"portrait": astronaut}),
                        example=skimage_example(ours, astronaut),
                        first=lambda: first.request({"portrait": astronaut}))
        print(f"astronaut      skimage example {t['example']:6.1f} ms | ours {t['ours']:6.1f} ms | ratio "
              f"{t['ours'] / t['example']:.3f} (target <= 0.35)")
        print(f"               first model {t['first']:6.1f} ms | ratio to the example "
              f"{t['first'] / t['example']:.3f}")


if __name__ == "__main__":
    main()
