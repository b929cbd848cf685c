"""How long `make deploy` takes against the local server, split into package, upload, build and smoke.

Serves an empty local server on 127.0.0.1 (a free port, a temporary data folder, one token) and runs `make deploy`
against it: a first deploy (creates deployment, environment and v1) and `--overwrite` (everything reused). The
phases are those `mod package` and `mod deploy` print, beside the wall time of the whole make call.

By default the server holds a revision upload's answer until its build ends (`build_wait`), so that the official
client's `wait_for_*` finds it finished and skips its 4 s sleep; the upload phase then includes the build. A third
run on a server with `build_wait=0` answers at once and so shows upload and build apart.

    .venv/bin/python bench/bench_deploy.py
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "libraries"))

from mod.server.auth import Tokens  # noqa: E402
from mod.server.app import ServeSettings, create_app  # noqa: E402
from mod.server.store import Store  # noqa: E402


def make_deploy(env: dict, flags: str = "") -> dict:
    "Run `make deploy`; the phases it printed and its wall time."
    start = time.perf_counter()
    p = subprocess.run(["make", "--no-print-directory", "deploy", f"DEPLOY_FLAGS={flags}"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if p.returncode:
        sys.exit(f"make deploy {flags} failed:\n{p.stdout}\n{p.stderr}")
    package = re.search(r"built in ([\d.]+) s", p.stdout)
    phases = dict((k, float(v)) for k, v in re.findall(r"(\w+) ([\d.]+) s", p.stdout.split("times: ")[-1]))
    return {"package": float(package[1]) if package else float("nan"), **phases, "make deploy (wall)": wall}


@contextmanager
def server(**settings):
    "An empty local server with one token, in a thread; yields the environment `make deploy` needs."
    data = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    token = Tokens(Store(data / "state.sqlite")).create("bench")[1]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(ServeSettings(data_dir=data, workers=1, shutdown_grace=2, **settings))
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start within 30 s")
        time.sleep(0.02)
    try:
        yield {**os.environ, "UBIOPS_PROJECT": "local", "UBIOPS_API_TOKEN": token,
               "UBIOPS_API_HOST": f"http://127.0.0.1:{sock.getsockname()[1]}/v2"}
    finally:
        uv.should_exit = True
        thread.join(30)
        sock.close()
        shutil.rmtree(data, ignore_errors=True)


def main():
    runs = {}
    with server() as env:
        runs["first deploy"] = make_deploy(env)
        runs["--overwrite"] = make_deploy(env, "--overwrite")
    with server(build_wait=0) as env:
        runs["build_wait=0"] = make_deploy(env)
    keys = list(runs["first deploy"])
    print(f"{'seconds':<20}" + "".join(f"{k:>16}" for k in runs))
    for k in keys:
        print(f"{k:<20}" + "".join(f"{r.get(k, float('nan')):>16.2f}" for r in runs.values()))
    print("package: `mod package` (assemble, check the model loads, zip); check: deploy.yaml, the zip, connection and "
          "plan; setup: deployment, environment, version; upload: the zip (and, with build_wait, the build); build: "
          "until the revision is built (Deployment.__init__ in a worker); smoke: upload the portrait, one request.")


if __name__ == "__main__":
    main()
