"""Helpers for the server tests: a data folder with a registered package and a token, the official client, polling."""
import time
import zipfile
from pathlib import Path

import ubiops

from mod.server.auth import Tokens
from mod.server.launch import register_package
from mod.server.registry import Registry
from mod.server.settings import ServeSettings
from mod.server.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def prepare(data_dir: Path, zip_path: Path, deployment: str, version: str = "v1") -> str:
    "Register `zip_path` as `deployment`/`version` in `data_dir` (as `mod serve` does); return a new token."
    store = Store(data_dir / "state.sqlite")
    register_package(store, Registry(store, data_dir), zip_path, "local", deployment, version)
    token = Tokens(store).create("test")[1]
    store.close()
    return token


def settings(data_dir: Path, **kw) -> ServeSettings:
    return ServeSettings(data_dir=data_dir, **{"workers": 1, "shutdown_grace": 2, **kw})


def zip_folder(folder: Path, out: Path) -> Path:
    "Zip a fixture folder under deployment_package/, as UbiOps expects."
    with zipfile.ZipFile(out, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f"deployment_package/{f.relative_to(folder).as_posix()}")
    return out


def api(url: str, token: str = None) -> tuple[ubiops.ApiClient, ubiops.CoreApi]:
    "The official client on this server, as the README shows it."
    config = ubiops.Configuration(host=f"{url}/v2.1", api_key={"Authorization": f"Token {token}"} if token else {})
    client = ubiops.ApiClient(config)
    return client, ubiops.CoreApi(client)


def wait_until(condition, timeout: float = 30, what: str = "the condition"):
    "Poll `condition()` every 20 ms until it is true (and return its value); fail after `timeout` seconds."
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)
    return value


def stored(core: ubiops.CoreApi, deployment: str, request_id: str, timeout: float = 10):
    "Wait until a direct request is stored: the server stores it after the answer has gone (32_server.request_api)."
    def found():
        try:
            return core.deployment_requests_get("local", deployment, request_id, metadata_only=True)
        except ubiops.ApiException as e:
            if e.status != 404:
                raise
    return wait_until(found, timeout, f"request {request_id} being stored")


def wait_done(core: ubiops.CoreApi, deployment: str, ids: list, timeout: float = 30) -> list:
    "Collect the requests `ids` until none is pending or processing (bounded by `timeout` seconds)."
    deadline = time.monotonic() + timeout
    while True:
        got = core.deployment_requests_batch_get("local", deployment, ids)
        if len(got) == len(ids) and all(r.status in ("completed", "failed") for r in got):
            return sorted(got, key=lambda r: ids.index(r.id))
        if time.monotonic() > deadline:
            raise AssertionError(f"requests still running after {timeout} s: {[r.status for r in got]}")
        time.sleep(0.1)
