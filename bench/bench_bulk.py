"""Benchmark the bulk scorer (issue 14: mod predict FOLDER). Prints figures; asserts nothing.

Generates N distinct portraits (scikit-image's astronaut, cropped, flipped, brightened and scaled at random, as
JPEG), times `Deployment.request` on them in this process, then for 1, 2 and 4 workers starts a fresh `mod serve
--workers W` (its own process, an empty data folder) and scores the folder with the bulk scorer in this process
(`mod.cloud.score.score`, the official client): uploads, batch requests, polling, one output line per portrait.
It prints the run's throughput against the ideal `N x in-process request time / workers` (min(workers, CPUs)
when there are fewer CPUs than workers), the scorer's CPU time per input, and its API calls.

Target: with 2 workers, throughput >= 0.85 x (2 x in-process throughput). One BLAS/OpenMP thread everywhere, as
the server's workers use, so that "2 x in-process" means two cores' worth of the same work. The server, the
scorer and the workers share this machine's CPUs: on 2 CPUs every millisecond the client or the server spends is
taken from the workers.

Run: .venv/bin/python bench/bench_bulk.py [--n 1000] [--workers 1 2 4] [--sample 200] [--repeat 1] [--scale 1]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MOD = Path(sys.executable).parent / "mod"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portraits(folder: Path, n: int, seed: int = 14, scale: float = 1.0) -> list:
    "N distinct JPEG portraits made from the astronaut: random crop around the face, flip, brightness, scale."
    from PIL import Image, ImageEnhance
    from skimage import data

    base, rng = Image.fromarray(data.astronaut()), random.Random(seed)
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        left, top = rng.randint(0, 120), rng.randint(0, 40)
        img = base.crop((left, top, left + rng.randint(330, 392), top + rng.randint(330, 470)))
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        factor = scale * rng.uniform(0.9, 1.4)
        img = img.resize((int(img.width * factor), int(img.height * factor)))
        paths.append(folder / f"portrait-{i:05d}.jpg")
        img.save(paths[-1], quality=90)
    return paths


def _answer_all(pkg: str, paths: list, ready, go, out):
    "One in-process worker: load the deployment, wait for the others, answer `paths`, report the seconds."
    from mod.core import Deployment

    deployment = Deployment(pkg, {})
    deployment.request({"portrait": paths[0]})  # warm
    ready.wait()
    go.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for p in paths:
        deployment.request({"portrait": p})
    out.put((time.perf_counter() - start, time.process_time() - cpu))


def in_process(pkg: Path, paths: list, processes: int) -> tuple:
    "(seconds, CPU seconds) `processes` in-process workers (a process each, started together) take for all `paths`."
    ctx = multiprocessing.get_context("spawn")
    ready, go, out = ctx.Barrier(processes + 1), ctx.Barrier(processes + 1), ctx.Queue()
    shares = [[str(p) for p in paths[i::processes]] for i in range(processes)]
    procs = [ctx.Process(target=_answer_all, args=(str(pkg), share, ready, go, out)) for share in shares]
    for p in procs:
        p.start()
    ready.wait()
    go.wait()
    seconds = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    return max(s for s, _ in seconds), sum(c for _, c in seconds)


def _cpu_seconds(pid: int) -> float:
    "CPU seconds (user + system) process `pid` has used so far (Linux /proc)."
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not listening yet, or not loaded yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout} s")


def score_once(zip_path: Path, folder: Path, tmp: Path, workers: int) -> dict:
    "Serve the zip with `workers` instances on an empty data folder; score `folder`; figures of the run."
    import httpx

    from mod.cloud.score import score
    from mod.cloud.config import Target
    from mod.server.auth import Tokens
    from mod.server.store import Store

    tmp = Path(tempfile.mkdtemp(prefix=f"run-{workers}-", dir=tmp))  # every run from scratch: empty server, no output
    data_dir = tmp / "serve-data"
    store = Store(data_dir / "state.sqlite")
    token = Tokens(store).create("bench")[1]
    store.close()
    port = free_port()
    server = subprocess.Popen([MOD, "serve", "--package", zip_path, "--data-dir", data_dir, "--port", str(port),
                               "--workers", str(workers)], stderr=open(tmp / "server.log", "w"))
    try:
        auth = {"Authorization": f"Token {token}"}
        wait_until(lambda: [w["state"] for v in httpx.get(f"http://127.0.0.1:{port}/v2.1/health", headers=auth)
                            .json()["versions"] for w in v["workers"]] == ["idle"] * workers, 120, "the server")
        os.environ.update(UBIOPS_API_TOKEN=token, UBIOPS_PROJECT="local", UBIOPS_API_HOST=f"http://127.0.0.1:{port}/v2.1")
        target = Target.connect()
        out = tmp / "scores.jsonl"
        workers_cpu = lambda: sum(map(_cpu_seconds, _children(server.pid)))  # noqa: E731
        cpu, server_cpu, worker_cpu, start = (time.process_time(), _cpu_seconds(server.pid), workers_cpu(),
                                              time.perf_counter())
        scorer = score(target, "face-portrait", [str(folder)], str(out), quiet=True)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        server_cpu, worker_cpu = _cpu_seconds(server.pid) - server_cpu, workers_cpu() - worker_cpu
        with sqlite3.connect(data_dir / "state.sqlite") as db:
            first, last = db.execute("SELECT MIN(time_started), MAX(time_completed) FROM requests").fetchone()
        span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    finally:
        server.terminate()
        server.wait(60)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    return {"wall": wall, "cpu": cpu, "server_cpu": server_cpu, "worker_cpu": worker_cpu, "span": span, "counts": dict(scorer.counts), "lines": len(lines), "calls": dict(scorer.calls.calls),
            "completed": sum(line["status"] == "completed" for line in lines),
            "faces": sum(bool(line["result"] and line["result"]["face_found"]) for line in lines)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="portraits to score")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts to run")
    ap.add_argument("--sample", type=int, default=200, help="portraits timed in-process, one process")
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count")
    ap.add_argument("--scale", type=float, default=1.0, help="portrait size: 1 is 300-650 px a side, 3 is 0.9-2 k")
    args = ap.parse_args()

    from mod.build.package import build, copy_checkout

    tmp = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    try:
        checkout = copy_checkout(ROOT, tmp / "checkout")
        build(checkout)
        zip_path, pkg = checkout / "deployment_package.zip", checkout / "deployment_package"
        t0 = time.perf_counter()
        paths = portraits(tmp / "portraits", args.n, scale=args.scale)
        print(f"{args.n} portraits generated in {time.perf_counter() - t0:.1f} s "
              f"({sum(p.stat().st_size for p in paths) / args.n / 1024:.0f} KiB each on average)")
        cpus, sample = os.cpu_count(), paths[:: max(1, args.n // args.sample)][:args.sample]
        print(f"{'workers':>7}{'wall s':>8}{'inputs/s':>9}{'t ms':>6}{'N*t/W s':>8}{'ratio':>6}{'parallel s':>11}"
              f"{'ratio':>6}{'client':>8}{'server':>8}{'worker':>8}{'t cpu':>7}{'cpu ratio':>10}{'load':>6}")
        for workers in args.workers:
            for _ in range(args.repeat):
                # the baselines just before and after the run, on this machine as it is now (others share it)
                single, parallel = [in_process(pkg, sample, 1)], [in_process(pkg, paths, workers)]
                r = score_once(zip_path, tmp / "portraits", tmp, workers)
                parallel.append(in_process(pkg, paths, workers))
                single.append(in_process(pkg, sample, 1))
                t = sum(s for s, _ in single) / 2 / len(sample)
                t_cpu = sum(c for _, c in single) / 2 / len(sample)
                parallel = sum(s for s, _ in parallel) / 2
                formula = args.n * t / min(workers, cpus)
                per = {k: r[k] / args.n * 1000 for k in ("cpu", "server_cpu", "worker_cpu")}
                assert r["completed"] == args.n, r
                print(f"{workers:>7}{r['wall']:>8.1f}{args.n / r['wall']:>9.1f}{t * 1000:>6.1f}{formula:>8.1f}"
                      f"{formula / r['wall']:>6.2f}{parallel:>11.1f}{parallel / r['wall']:>6.2f}{per['cpu']:>8.2f}"
                      f"{per['server_cpu']:>8.2f}{per['worker_cpu']:>8.2f}{t_cpu * 1000:>7.1f}"
                      f"{t_cpu * 1000 / sum(per.values()):>10.2f}{os.getloadavg()[0]:>6.1f}", flush=True)
        print(f"wall: the scorer's run, from the call to the last line written, uploads included, all {args.n} "
              f"answered (API calls per run: {r['calls']}). t: in-process Deployment.request, one process, "
              f"{len(sample)} portraits, before and after (mean). N*t/W: the issue's ideal, N x t / min(workers, "
              f"CPUs); parallel: the N portraits answered in-process by `workers` processes at once, before and after "
              f"(mean); ratio = ideal / wall (target with 2 workers >= 0.85). client, server, worker: CPU ms per input "
              f"of the scorer, the server process and its workers; t cpu: CPU ms of one in-process request; cpu ratio "
              f"= t cpu / (client + server + worker): the ratio a CPU-bound run reaches on CPUs nothing else uses. "
              f"CPUs: {cpus}; load: 1-minute load average after the run.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
