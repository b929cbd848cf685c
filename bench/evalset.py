"""A seeded face-detection evaluation set built only from pictures that installed wheels ship (nothing downloaded).

Real portraits: scikit-image's astronaut and matplotlib's Grace Hopper (and their mirror images), under synthetic
transformations (rotation, scale, placement in larger scenes, brightness, contrast, blur, JPEG quality, noise,
crops, pairs, a 12 MP phone photo), plus the LFW faces the default model never trains on (`mod.build.train.lfw_split`)
placed in scenes. Non-faces: pictures that are not in the training's `background_images`, and their variants.

Every item is a file on disk and a ground truth: `faces` (boxes in the file's pixels, `[]` for a non-face).
Run `python bench/evalset.py OUT_DIR` to write the set and look at it.
"""
import argparse
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

Box = tuple[int, int, int, int]  # x, y, width, height

# Hand-annotated face boxes (forehead to chin, ear to ear) in the pictures as shipped (tests/portraits.py states the
# astronaut's too).
PORTRAITS = {
    "astronaut": ("skimage", "astronaut.png", (175, 62, 102, 108)),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (165, 130, 210, 195)),
}
# Pictures without a human face that training never sees (train-conf.yml `background_images` must not list them;
# tests/test_evalset.py checks). chelsea is a cat: a face-like hard negative.
NONFACES = {
    "coffee": ("skimage", "coffee.png"), "camera": ("skimage", "camera.png"), "chelsea": ("skimage", "chelsea.png"),
    "cell": ("skimage", "cell.png"), "chessboard": ("skimage", "chessboard_RGB.png"), "color": ("skimage", "color.png"),
    "microaneurysms": ("skimage", "microaneurysms.png"), "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "motorcycle_right.png"), "phantom": ("skimage", "phantom.png"),
    "china": ("sklearn", "datasets/images/china.jpg"), "flower": ("sklearn", "datasets/images/flower.jpg"),
    "mpl_logo": ("matplotlib", "mpl-data/sample_data/logo2.png"),
    "minduka": ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png"),
}


@dataclass
class Item:
    name: str  # unique, also the file's stem
    family: str  # the transformation family the figures are grouped by
    source: str  # the picture it came from
    faces: list = field(default_factory=list)  # ground-truth boxes in the file's pixels
    path: str = ""


def _shipped(package: str, rel: str) -> Image.Image:
    import importlib

    root = Path(importlib.import_module(package).__file__).parent
    folder = root / "data" if package == "skimage" else root
    with Image.open(folder / rel) as im:
        return im.convert("RGB")


def portraits() -> dict:
    "name -> (RGB image, face box): the real portraits and their mirror images."
    out = {}
    for name, (pkg, rel, box) in PORTRAITS.items():
        im = _shipped(pkg, rel)
        x, y, w, h = box
        out[name] = (im, box)
        out[name + "_mirror"] = (ImageOps.mirror(im), (im.width - x - w, y, w, h))
    return out


def nonfaces() -> dict:
    return {name: _shipped(pkg, rel) for name, (pkg, rel) in NONFACES.items()}


def lfw_eval() -> tuple[np.ndarray, np.ndarray]:
    "The LFW faces and non-faces (25x25, [0, 1]) that the default model never trains on."
    from skimage import data

    from mod.build.train import lfw_split

    lfw = np.load(Path(data.__file__).parent / "lfw_subset.npy")
    _, test = lfw_split()
    return lfw[test[test < 100]], lfw[test[test >= 100]]


# --- transformations: each returns (image, boxes) with the boxes moved along ------------------------------------

def _rotate(im, boxes, angle):
    "Rotate counter-clockwise by `angle` degrees, expanding the canvas; boxes become the rotated corners' hull."
    out = im.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    a = np.deg2rad(angle)
    cx, cy, ncx, ncy = im.width / 2, im.height / 2, out.width / 2, out.height / 2
    moved = []
    for x, y, w, h in boxes:
        pts = np.array([(x, y), (x + w, y), (x, y + h), (x + w, y + h)], float) - (cx, cy)
        rx = pts[:, 0] * np.cos(a) + pts[:, 1] * np.sin(a) + ncx
        ry = -pts[:, 0] * np.sin(a) + pts[:, 1] * np.cos(a) + ncy
        # the hull of a tilted face box is larger than the face: shrink it back to the box's own area
        bw, bh = rx.max() - rx.min(), ry.max() - ry.min()
        k = np.sqrt(w * h / (bw * bh))
        moved.append(_box(rx.mean() - bw * k / 2, ry.mean() - bh * k / 2, bw * k, bh * k))
    return out, moved


def _box(x, y, w, h) -> Box:
    return (int(round(x)), int(round(y)), int(round(w)), int(round(h)))


def _resize(im, boxes, side):
    "Resize so the long side is `side`."
    k = side / max(im.size)
    out = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.LANCZOS)
    return out, [_box(x * k, y * k, w * k, h * k) for x, y, w, h in boxes]


def _place(im, boxes, scene: Image.Image, face_frac: float, rng):
    "Paste `im` into `scene` at a random place, scaled so its first face spans `face_frac` of the scene's long side."
    k = face_frac * max(scene.size) / max(boxes[0][2], boxes[0][3])
    k = min(k, 0.95 * scene.width / im.width, 0.95 * scene.height / im.height)
    small, moved = _resize(im, boxes, max(1, round(max(im.size) * k)))
    x0, y0 = int(rng.integers(0, scene.width - small.width + 1)), int(rng.integers(0, scene.height - small.height + 1))
    out = scene.copy()
    out.paste(small, (x0, y0))
    return out, [(x + x0, y + y0, w, h) for x, y, w, h in moved]


def _scene(nonface: dict, rng, size=(1600, 1200)) -> Image.Image:
    "A background of `size`: one of the non-face pictures stretched over it, or plain grey."
    names = sorted(nonface) + ["grey"]
    name = names[int(rng.integers(len(names)))]
    return Image.new("RGB", size, (128, 128, 128)) if name == "grey" else nonface[name].resize(size, Image.BILINEAR)


def _crop_face(im, box, margin):
    x, y, w, h = box
    dx, dy = round(w * margin), round(h * margin)
    region = (max(0, x - dx), max(0, y - dy), min(im.width, x + w + dx), min(im.height, y + h + dy))
    return im.crop(region), [(x - region[0], y - region[1], w, h)]


def _noise(im, sigma, rng):
    a = np.asarray(im, np.float64) + rng.normal(0, sigma, (im.height, im.width, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _lfw_face(face: np.ndarray, side: int) -> Image.Image:
    "An LFW 25x25 face as an RGB picture `side` pixels across (the crop is the whole face)."
    return Image.fromarray((face * 255).astype(np.uint8)).resize((side, side), Image.BICUBIC).convert("RGB")


def portrait_variants(im, box, rng, nonface) -> list[tuple[str, str, Image.Image, list, str]]:
    "(family, variant, image, boxes, format) for one portrait."
    b = [box]
    v = [("identity", "", im, b, "PNG")]
    for a in (-30, -20, -10, 10, 20, 30):
        v.append((f"rotate_{abs(a)}", f"{a:+d}", *_rotate(im, b, a), "PNG"))
    for a in (90, 180, 270):  # a phone photo whose EXIF tag was lost
        v.append((f"rotate_{a}", str(a), *_rotate(im, b, a), "PNG"))
    for side in (64, 96, 160, 1024, 2048):
        v.append(("small" if side < 200 else "large", str(side), *_resize(im, b, side), "PNG"))
    for frac in (1 / 6, 1 / 8, 1 / 10, 1 / 12):
        v.append(("scene", f"{round(1 / frac)}", *_place(im, b, _scene(nonface, rng), frac, rng), "JPEG"))
    for k in (0.5, 1.6, 2.2):
        v.append(("brightness", str(k), ImageEnhance.Brightness(im).enhance(k), b, "PNG"))
    for k in (0.5, 2.0):
        v.append(("contrast", str(k), ImageEnhance.Contrast(im).enhance(k), b, "PNG"))
    for r in (0.005, 0.01):  # blur radius as a fraction of the long side: the same blur at any resolution
        v.append(("blur", str(r), im.filter(ImageFilter.GaussianBlur(r * max(im.size))), b, "PNG"))
    for q in (10, 25):
        v.append(("jpeg", str(q), im, b, f"JPEG{q}"))
    v.append(("noise", "15", _noise(im, 15, rng), b, "PNG"))
    v.append(("gray", "", im.convert("L").convert("RGB"), b, "PNG"))
    for m in (0.1, 0.35):
        v.append(("face_crop", str(m), *_crop_face(im, box, m), "PNG"))
    # A 12 MP phone photo: the portrait filling the height of a grey 4032x3024 frame (the reproduction).
    big, bb = _resize(im, b, 3024)
    phone = Image.new("RGB", (4032, 3024), (128, 128, 128))
    phone.paste(big, ((4032 - big.width) // 2, (3024 - big.height) // 2))
    v.append(("phone_12mp", "", phone, [(x + (4032 - big.width) // 2, y + (3024 - big.height) // 2, w, h)
                                        for x, y, w, h in bb], "JPEG90"))
    return v


def build(out_dir, seed: int = 0) -> list[Item]:
    "Write the evaluation set into `out_dir` (files and `evalset.json`); return its items."
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    nonface, faces = nonfaces(), portraits()
    items: list[tuple[Item, Image.Image, str]] = []
    for name, (im, box) in faces.items():
        for family, variant, img, boxes, fmt in portrait_variants(im, box, rng, nonface):
            items.append((Item(f"{name}-{family}{variant}", family, name, [list(b) for b in boxes]), img, fmt))
    names = sorted(faces)
    pairs = [(names[0], names[2]), (names[3], names[1]), (names[0], names[1]), (names[2], names[3])]
    for i, (a, b) in enumerate(pairs):
        (ia, ba), (ib, bb) = faces[a], faces[b]
        ib, [bb] = _resize(ib, [bb], ia.height * max(ib.size) / ib.height) if ib.height != ia.height else (ib, [bb])
        pair = Image.new("RGB", (ia.width + ib.width, max(ia.height, ib.height)), (128, 128, 128))
        pair.paste(ia, (0, 0)); pair.paste(ib, (ia.width, 0))
        boxes = [list(ba), [bb[0] + ia.width, bb[1], bb[2], bb[3]]]
        items.append((Item(f"pair{i}-{a}+{b}", "pair", f"{a}+{b}", boxes), pair, "JPEG90"))
    lfw_faces, lfw_nonfaces = lfw_eval()
    for i, f in enumerate(lfw_faces):
        face = _lfw_face(f, int(rng.integers(80, 200)))
        items.append((Item(f"lfw{i}-crop", "lfw_crop", f"lfw{i}", [[0, 0, face.width, face.height]]), face, "PNG"))
        frac = float(rng.uniform(0.12, 0.3))
        scene, boxes = _place(face, [(0, 0, face.width, face.height)], _scene(nonface, rng, (1024, 768)), frac, rng)
        items.append((Item(f"lfw{i}-scene", "lfw_scene", f"lfw{i}", [list(b) for b in boxes]), scene, "JPEG90"))
    for name, im in nonface.items():
        for variant, img, fmt in [("", im, "PNG"), ("-rot90", im.rotate(90, expand=True), "PNG"),
                                  ("-bright1.6", ImageEnhance.Brightness(im).enhance(1.6), "PNG"),
                                  ("-large", _resize(im, [], 1600)[0], "JPEG90"),
                                  ("-crop", im.crop((im.width // 4, im.height // 4, im.width * 3 // 4,
                                                     im.height * 3 // 4)), "PNG"),
                                  ("-blur", im.filter(ImageFilter.GaussianBlur(0.005 * max(im.size))), "PNG")]:
            items.append((Item(f"nonface-{name}{variant}", "nonface", name), img, fmt))
    for i in range(0, len(lfw_nonfaces), 5):  # five held-out LFW non-face patches in a row, as one picture
        strip = np.concatenate(list(lfw_nonfaces[i:i + 5]), axis=1)
        img = Image.fromarray((strip * 255).astype(np.uint8)).resize((strip.shape[1] * 8, 200), Image.BICUBIC)
        items.append((Item(f"nonface-lfw{i}", "nonface", "lfw_nonfaces"), img.convert("RGB"), "PNG"))
    written = []
    for item, img, fmt in items:
        item.path = _save(img, out / item.name, fmt)
        written.append(item)
    (out / "evalset.json").write_text(json.dumps({"seed": seed, "items": [asdict(i) for i in written]}, indent=1))
    return written


def _save(img: Image.Image, stem: Path, fmt: str) -> str:
    if fmt.startswith("JPEG"):
        path = stem.parent / (stem.name + ".jpg")
        img.save(path, "JPEG", quality=int(fmt[4:] or 90))
    else:
        path = stem.parent / (stem.name + ".png")
        img.save(path, "PNG", compress_level=1)
    return path.name


def load(out_dir) -> list[Item]:
    "The items of a set `build` wrote."
    return [Item(**d) for d in json.loads((Path(out_dir) / "evalset.json").read_text())["items"]]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder to write the pictures and evalset.json into")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    items = build(a.out, a.seed)
    faces = sum(len(i.faces) for i in items)
    print(f"{len(items)} pictures ({sum(1 for i in items if i.faces)} with faces, {faces} faces; "
          f"{sum(1 for i in items if not i.faces)} without) in {a.out}")
