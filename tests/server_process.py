"""A real local server in a child process, so a test can SIGTERM or SIGKILL it: uvicorn on 127.0.0.1, a free port.

`python server_process.py DATA_DIR SETTINGS_JSON` serves `create_app(ServeSettings(data_dir=DATA_DIR, **settings))` and
prints `PORT <n>` on stdout first. `ServerProcess` starts it, waits until `/v2.1/status` answers, and stops it.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


class ServerProcess:
    "A server in a child process (its own process group), started by `start` and ended by `stop` or `kill`."

    def __init__(self, data_dir: Path, log: Path, env: dict = None, **settings):
        self.data_dir, self.log, self.env, self.settings = data_dir, log, env or {}, settings
        self.proc, self.url = None, None

    def start(self, timeout: float = 60) -> "ServerProcess":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, __file__, str(self.data_dir), json.dumps(self.settings)],
                                         stdout=subprocess.PIPE, stderr=log, env={**os.environ, **self.env},
                                         start_new_session=True)
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline().split()[1])}"
        deadline = time.monotonic() + timeout
        while True:  # the lifespan loads every version before the server answers
            try:
                if httpx.get(f"{self.url}/v2.1/status", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout} s; see {self.log}")
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        "Send `sig` to the server process only (its workers notice by themselves); its exit code."
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.proc.stdout.close()

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)


def _serve(data_dir: str, settings: str):
    import uvicorn
    from mod.server.app import ServeSettings, create_app
    from mod.server.launch import _configure_logging

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    _configure_logging()
    app = create_app(ServeSettings(data_dir=Path(data_dir), **json.loads(settings)))
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


if __name__ == "__main__":
    _serve(*sys.argv[1:])
