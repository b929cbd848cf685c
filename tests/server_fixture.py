"""A real local server for tests: uvicorn on 127.0.0.1 and a free port, in a thread, started and stopped by the test."""
import socket
import threading
import time
from contextlib import contextmanager

import uvicorn

from mod.server.app import ServeSettings, create_app


@contextmanager
def running_app(app, start_timeout: float = 30):
    "Serve the ASGI `app` while the block runs; yield its base URL (`http://127.0.0.1:<port>`)."
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; uvicorn serves on this very socket, so no race
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start within {start_timeout} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(start_timeout)
        sock.close()


def running_server(settings: ServeSettings, start_timeout: float = 30):
    "Serve `create_app(settings)` while the block runs; yield its base URL (`http://127.0.0.1:<port>`)."
    return running_app(create_app(settings), start_timeout)
