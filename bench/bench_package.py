"""Benchmark the packaging (issue 3). Prints figures; asserts nothing.

1. `make package` without retraining: wall time of the whole target, of its export step alone (`make export`) and of
   what follows the export (`mod package`, target <= 2 s), medians of several runs. Then the zip's size against the
   sum of the files it carries.
2. Our zipper (`mod.build.package.write_zip`) against `ubiops.utils.zip_dir` on the same folder, side by side: time
   (median), size, and whether two runs match (sha256), both on the same folder and on two fresh copies of it (new
   file times, as two checkouts or two machines would have).

Run from the checkout: .venv/bin/python bench/bench_package.py [--runs 5]. It runs `make package` in this checkout
(refusing to train: run `make train` first if deployment_package/ has no model).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_package(runs: int):
    if not (ROOT / "deployment_package" / "model1.pkl").is_file():
        sys.exit("deployment_package/model1.pkl is missing: run `make train` first (this benchmark never trains).")
    cases = {"whole": ["make", "-s", "package"], "export": ["make", "-s", "export"], "after": [BIN / "mod", "package"]}
    times = {k: [] for k in cases}
    for _ in range(runs):  # interleaved, so drift on a shared machine hits every case alike
        for name, cmd in cases.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            times[name].append(time.perf_counter() - t)
    total, export, after = (statistics.median(times[k]) for k in cases)
    print(f"make package   whole target {total:5.2f} s | export step {export:5.2f} s | after export (mod package) "
          f"{after:5.2f} s (target <= 2 s)  [median of {runs}]")
    record = json.loads((ROOT / "deployment_package.build.json").read_text())
    print(f"zip size       {record['zip_bytes']:,} bytes for {len(record['files'])} files of {record['bytes']:,} "
          f"bytes ({record['zip_bytes'] / record['bytes']:.1%}; model1.pkl alone "
          f"{record['files']['model1.pkl']['bytes']:,})")


def zippers(runs: int):
    from mod.core import sha256_file
    from mod.build.package import package_files
    from mod.build.zips import write_zip
    from ubiops.utils import zip_dir

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        copies, files = [], package_files(ROOT / "deployment_package")
        for i in (0, 1):  # two fresh copies of exactly the package's files: same bytes, other file times
            dst = tmp / f"copy{i}" / "deployment_package"
            for rel in files:
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / "deployment_package" / rel, dst / rel)
                stamp = time.time() + i * 3600  # the second copy as if checked out an hour later
                os.utime(dst / rel, (stamp, stamp))
            copies.append(dst)

        def ours(folder, out):
            write_zip(folder, package_files(folder), out)

        def theirs(folder, out):
            zip_dir(str(folder), str(out), force=True)

        for name, fn in (("ours (write_zip)", ours), ("ubiops zip_dir", theirs)):
            times = []
            for i in range(runs):
                t = time.perf_counter()
                fn(copies[0], tmp / f"run{i}.zip")
                times.append(time.perf_counter() - t)
            fn(copies[1], tmp / "other.zip")
            same = sha256_file(tmp / "run0.zip") == sha256_file(tmp / "run1.zip")
            fresh = sha256_file(tmp / "run0.zip") == sha256_file(tmp / "other.zip")
            print(f"zipper         {name:17s} {statistics.median(times) * 1000:6.0f} ms | "
                  f"{(tmp / 'run0.zip').stat().st_size:>10,} bytes | two runs match: same folder {same}, "
                  f"two fresh copies {fresh}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    print(f"machine        {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start (others' work "
          f"slows every figure)")
    make_package(a.runs)
    zippers(a.runs)
    print(f"machine        load average {os.getloadavg()[0]:.2f} at the end")
