"""Benchmark the local server (issue: make serve). Prints figures; asserts nothing.

On the same portraits (scikit-image's astronaut, camera, coffee and chelsea, in that order), in one run:
1. in-process: `Deployment.request` called directly in this process;
2. the server as `mod serve` runs it (uvicorn, token auth, 2 worker instances, SQLite request log), in its own
   process, called over HTTP/1.1 keep-alive connections with `ubiops-file://` URIs uploaded beforehand;
3. a plain Flask 3.1 app calling the same `Deployment` inside its own (threaded) process, the seeds' pattern.
At concurrency 1 the three take turns request by request, at concurrency 8 the two HTTP servers take turns in
blocks, so drift on a shared machine hits them alike.
Every run is bounded: a fixed number of requests per phase and a time cap.

Targets: server p50 at concurrency 1 within 2 ms of in-process; server throughput at concurrency 8 with 2 workers
>= 0.9 x 2 x in-process throughput. One BLAS/OpenMP thread everywhere (as the server's workers use), so that
"2 x in-process" means two cores' worth of the same work.

Run: .venv/bin/python bench/bench_serve.py [--requests 320] [--seconds 60]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MOD = Path(sys.executable).parent / "mod"
PICTURES = ("astronaut", "camera", "coffee", "chelsea")

FLASK_APP = """
import sys
from flask import Flask, jsonify, request
pkg = sys.argv[1]
sys.path[:0] = [pkg + "/libraries", pkg]
from deployment import Deployment
deployment = Deployment(pkg, {})
app = Flask(__name__)

@app.post("/predict")
def predict():
    return jsonify(deployment.request(request.get_json()))

app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout} s")


class Http:
    "POST JSON on one keep-alive connection."

    def __init__(self, port: int, path: str, headers: dict):
        self.conn, self.path = http.client.HTTPConnection("127.0.0.1", port), path
        self.headers = {"Content-Type": "application/json", **headers}

    def __call__(self, body: bytes) -> dict:
        self.conn.request("POST", self.path, body, self.headers)
        response = self.conn.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer}")
        return answer


def run_load(make_caller, bodies: list, concurrency: int, total: int, seconds: float):
    "Send `total` requests (cycling `bodies`) from `concurrency` threads; latencies per body index, wall time."
    callers = [make_caller() for _ in range(concurrency)]
    for call in callers:  # warm each connection
        call(bodies[0])
    latencies, lock, counter = [[] for _ in bodies], threading.Lock(), iter(range(total))
    deadline = time.monotonic() + seconds

    def worker(call):
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            call(bodies[i % len(bodies)])
            latencies[i % len(bodies)].append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker, args=(c,)) for c in callers]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start


def figures(latencies: list, wall: float) -> dict:
    flat = sorted(x for per in latencies for x in per)
    return {"n": len(flat), "p50": statistics.median(flat) * 1000,
            "p99": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000, "rps": len(flat) / wall,
            "per_picture_p50": [statistics.median(per) * 1000 for per in latencies]}


def merge(a: tuple, b: tuple) -> tuple:
    return [x + y for x, y in zip(a[0], b[0])], a[1] + b[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=320, help="requests per phase at concurrency 1 (2x at 8)")
    ap.add_argument("--seconds", type=float, default=60, help="time cap per phase")
    args = ap.parse_args()

    from PIL import Image
    from skimage import data as skdata
    import ubiops

    from mod.server.auth import Tokens
    from mod.core import Deployment
    from mod.build.package import build, copy_checkout
    from mod.server.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    checkout = copy_checkout(ROOT, tmp / "checkout")
    build(checkout)
    zip_path, pkg = checkout / "deployment_package.zip", checkout / "deployment_package"
    paths = []
    for name in PICTURES:
        paths.append(tmp / f"{name}.png")
        Image.fromarray(getattr(skdata, name)()).save(paths[-1])

    data_dir = tmp / "serve-data"
    store = Store(data_dir / "state.sqlite")
    token = Tokens(store).create("bench")[1]
    store.close()
    port, flask_port = free_port(), free_port()
    server = subprocess.Popen([MOD, "serve", "--package", zip_path, "--data-dir", data_dir, "--port", str(port),
                               "--workers", "2"], stderr=open(tmp / "server.log", "w"))
    flask = subprocess.Popen([sys.executable, "-c", FLASK_APP, pkg, str(flask_port)], stderr=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL)
    try:
        auth = {"Authorization": f"Token {token}"}

        def loaded():
            c = http.client.HTTPConnection("127.0.0.1", port)
            c.request("GET", "/v2.1/health", headers=auth)
            return [w["state"] for v in json.loads(c.getresponse().read())["versions"] for w in v["workers"]] == [
                "idle", "idle"]

        wait_until(loaded, 120, "the server")
        wait_until(lambda: socket.create_connection(("127.0.0.1", flask_port)).close() or True, 60, "the Flask app")
        client = ubiops.ApiClient(ubiops.Configuration(host=f"http://127.0.0.1:{port}/v2.1",
                                                       api_key={"Authorization": f"Token {token}"}))
        uris = [ubiops.utils.upload_file(client, "local", str(p), _progress_bar=False) for p in paths]
        server_bodies = [json.dumps({"portrait": u}).encode() for u in uris]
        local_bodies = [{"portrait": str(p)} for p in paths]
        flask_bodies = [json.dumps(b).encode() for b in local_bodies]

        deployment = Deployment(str(pkg), {})
        checks = [deployment.request(b) for b in local_bodies]
        served = Http(port, "/v2.1/projects/local/deployments/face-portrait/requests", auth)
        assert [served(b)["result"] for b in server_bodies] == checks, "the server answers differently"
        in_process = lambda: lambda body: deployment.request(body)  # noqa: E731
        make_server = lambda: Http(port, "/v2.1/projects/local/deployments/face-portrait/requests", auth)  # noqa
        make_flask = lambda: Http(flask_port, "/predict", {})  # noqa: E731

        # Concurrency 1: one request of each kind in turn, so drift on a shared machine (large here) hits all alike.
        single = {"in-process, c=1": (in_process(), local_bodies), "server, c=1": (make_server(), server_bodies),
                  "flask, c=1": (make_flask(), flask_bodies)}
        runs = {k: ([[] for _ in PICTURES], 0.0) for k in single}
        for i in range(args.requests):
            for label, (call, bodies) in single.items():
                t = time.perf_counter()
                call(bodies[i % len(bodies)])
                runs[label][0][i % len(bodies)].append(time.perf_counter() - t)
        for label in single:
            runs[label] = runs[label][0], sum(map(sum, runs[label][0]))
        # Concurrency 8: rounds of blocks.
        block = 8 * len(PICTURES)
        crowd = {"server, c=8, 2 workers": (make_server, server_bodies), "flask, c=8": (make_flask, flask_bodies)}
        runs.update({k: ([[] for _ in PICTURES], 0.0) for k in crowd})
        for _ in range(max(1, args.requests // block)):
            for label, (make, bodies) in crowd.items():
                runs[label] = merge(runs[label], run_load(make, bodies, 8, 2 * block, args.seconds))
    finally:
        server.terminate()
        flask.terminate()
        server.wait(60)
        flask.wait(30)

    f = {k: figures(*v) for k, v in runs.items()}
    base, server1, flask1 = f["in-process, c=1"], f["server, c=1"], f["flask, c=1"]
    print(f"per-picture p50 ms ({', '.join(PICTURES)}): " + "; ".join(
        f"{k.split(',')[0]} " + ", ".join(f"{x:.1f}" for x in f[k]["per_picture_p50"])
        for k in ("in-process, c=1", "server, c=1", "flask, c=1")))
    print(f"{'':28}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for label, x in f.items():
        print(f"{label:28}{x['n']:>5}{x['p50']:>9.2f}{x['p99']:>9.2f}{x['rps']:>8.1f}")
    overhead = statistics.mean(s - b for s, b in zip(server1["per_picture_p50"], base["per_picture_p50"]))
    flask_overhead = statistics.mean(s - b for s, b in zip(flask1["per_picture_p50"], base["per_picture_p50"]))
    ratio = f["server, c=8, 2 workers"]["rps"] / (2 * base["rps"])
    print(f"server p50 overhead at c=1: {server1['p50'] - base['p50']:+.2f} ms on the mix, {overhead:+.2f} ms "
          f"per picture (target within 2 ms); flask: {flask_overhead:+.2f} ms per picture")
    print(f"server throughput at c=8 / (2 x in-process): {ratio:.2f} (target >= 0.90); "
          f"flask at c=8 / in-process: {f['flask, c=8']['rps'] / base['rps']:.2f}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs; other work skews all)")

if __name__ == "__main__":
    main()
