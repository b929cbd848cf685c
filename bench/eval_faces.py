"""Evaluate packaged face deployments on the seeded evaluation set (bench/evalset.py), side by side.

Each deployment folder is loaded as UbiOps loads it (`Deployment(folder, context)`) and answers every picture;
the deployments take turns picture by picture, so load on the shared machine hits them alike. Printed per
transformation family: recall (the face is found and the box overlaps the truth, IoU >= 0.3), mean IoU of the
found boxes, latency p50/p90; and over the whole set: recall on real faces, false positives on non-faces, faces
counted right on pictures of two faces.

Run: .venv/bin/python bench/eval_faces.py [FOLDER[:key=value,...] ...] [--set DIR] [--json OUT]
(default: ./deployment_package; the set is built into a temporary folder unless --set names one already built).
`key=value` pairs (values in JSON) override the search settings of that folder's manifest (`preprocessing.detection`)
in a copy, to compare variants of one model side by side: `deployment_package:confirm=null` (no Haar check),
`deployment_package:engine="skimage"` (scikit-image's cascade engine).
"""
import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import evalset  # noqa: E402

IOU_HIT = 0.3  # cascade boxes are square and tighter or looser than a hand-drawn box; 0.3 still means "on the face"


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def variant(spec: str, tmp: Path) -> Path:
    "The deployment folder `spec` names, copied with its search settings overridden when it has `:key=value,...`."
    folder, _, overrides = spec.partition(":")
    if not overrides:
        return Path(folder)
    copy = tmp / f"variant{len(list(tmp.glob('variant*')))}"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "model1.json").read_text())
    for pair in overrides.split(","):
        key, _, value = pair.partition("=")
        manifest["preprocessing"]["detection"][key] = json.loads(value)
    (copy / "model1.json").write_text(json.dumps(manifest))
    return copy


def run(packages: list, items: list, folder: Path, repeat: int = 1) -> dict:
    "package spec -> list of per-item results {name, family, found, iou, count, confidence, ms}."
    from mod.core import Deployment

    with tempfile.TemporaryDirectory() as tmp:
        deps = {p: Deployment(str(variant(p, Path(tmp))), {}) for p in packages}
    for d in deps.values():  # first answers pay for lazy imports and caches
        for it in items[:3]:
            d.request({"portrait": str(folder / it.path)})
    out = {p: [] for p in packages}
    for it in items:
        for p, d in deps.items():
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                r = d.request({"portrait": str(folder / it.path)})
                times.append(time.perf_counter() - t)
            best = max((iou(r["box"], gt) for gt in it.faces), default=0.0) if r["face_found"] else 0.0
            out[p].append({"name": it.name, "family": it.family, "faces": len(it.faces), "found": r["face_found"],
                           "iou": round(best, 3), "count": r.get("face_count", int(r["face_found"])),
                           "confidence": r["confidence"], "ms": statistics.median(times) * 1000})
    return out


def _pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def summarise(rows: list) -> dict:
    "Headline figures and per-family figures for one deployment's results."
    faces = [r for r in rows if r["faces"]]
    non = [r for r in rows if not r["faces"]]
    hit = lambda r: r["found"] and r["iou"] >= IOU_HIT  # noqa: E731
    fams = {}
    for fam in dict.fromkeys(r["family"] for r in rows):
        rs = [r for r in rows if r["family"] == fam]
        ious = [r["iou"] for r in rs if hit(r)]
        fams[fam] = {"n": len(rs), "found": sum(hit(r) for r in rs) if rs[0]["faces"] else sum(r["found"] for r in rs),
                     "iou": round(statistics.mean(ious), 3) if ious else None,
                     "p50_ms": round(_pct([r["ms"] for r in rs], 0.5), 1),
                     "p90_ms": round(_pct([r["ms"] for r in rs], 0.9), 1)}
    pairs = [r for r in rows if r["faces"] == 2]
    ms = [r["ms"] for r in rows]
    return {"pictures": len(rows), "face_pictures": len(faces), "nonface_pictures": len(non),
            "recall": round(sum(hit(r) for r in faces) / len(faces), 4),
            "found_elsewhere": sum(r["found"] and not hit(r) for r in faces),
            "false_positives": sum(r["found"] for r in non),
            "false_positive_rate": round(sum(r["found"] for r in non) / len(non), 4),
            "mean_iou": round(statistics.mean([r["iou"] for r in faces if hit(r)] or [0]), 3),
            "pairs_counted_2": f"{sum(r['count'] == 2 for r in pairs)}/{len(pairs)}",
            "p50_ms": round(_pct(ms, 0.5), 1), "p90_ms": round(_pct(ms, 0.9), 1), "families": fams}


def report(summaries: dict):
    names = list(summaries)
    short = [Path(n).name or str(n) for n in names]
    print(f"{'family':<13}{'n':>4} " + " ".join(f"| {s[:28]:<28}" for s in short))
    print(f"{'':<13}{'':>4} " + " ".join(f"| {'found':>6} {'IoU':>5} {'p50':>6} {'p90':>6}" for _ in names))
    for fam in summaries[names[0]]["families"]:
        f0 = summaries[names[0]]["families"][fam]
        cells = []
        for n in names:
            f = summaries[n]["families"][fam]
            cells.append(f"| {f['found']:>3}/{f['n']:<2} {f['iou'] if f['iou'] is not None else '-':>5} "
                         f"{f['p50_ms']:>6} {f['p90_ms']:>6}")
        print(f"{fam:<13}{f0['n']:>4} " + " ".join(cells))
    print()
    for key in ("recall", "found_elsewhere", "false_positives", "false_positive_rate", "mean_iou", "pairs_counted_2",
                "p50_ms", "p90_ms"):
        print(f"{key:<20}" + " ".join(f"| {str(summaries[n][key]):<28}" for n in names))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("packages", nargs="*", default=["deployment_package"], help="deployment folders to compare")
    ap.add_argument("--set", help="an evaluation set `bench/evalset.py DIR` built (default: build one now)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="answers per picture; the median is kept")
    ap.add_argument("--json", help="write the figures and per-picture results here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.set) if a.set else Path(tmp)
        items = evalset.load(folder) if a.set else evalset.build(folder, a.seed)
        t = time.perf_counter()
        results = run(a.packages, items, folder, a.repeat)
        summaries = {p: summarise(rows) for p, rows in results.items()}
        report(summaries)
        print(f"\n{len(items)} pictures x {len(a.packages)} deployment(s) in {time.perf_counter() - t:.0f} s")
        if a.json:
            Path(a.json).write_text(json.dumps({"summaries": summaries, "results": results}, indent=1))
    return summaries


if __name__ == "__main__":
    main()
