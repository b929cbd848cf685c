"""Faults injected into a running server: whatever the deployment code or the operating system does, every request
ends in exactly one terminal state (completed, or failed with a message that says why), no answer is a 500, and the
server keeps serving with /health back to ok. Every wait here is on a condition, bounded in time."""
import io
import logging
import os
import shutil
import signal
import socket
import sqlite3
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mod.server.settings import ServeSettings
from mod.server.store import Store
from serve_support import FIXTURES, api, prepare, settings, wait_done, wait_until, zip_folder
from server_fixture import running_server
from server_process import ServerProcess

TERMINAL = ("completed", "failed")


def _auth(token) -> dict:
    return {"Authorization": f"Token {token}"}


def _health(url, token) -> dict:
    return httpx.get(f"{url}/v2.1/health", headers=_auth(token), timeout=10).json()


def _healthy(url, token, workers: int) -> bool:
    "/health is ok and every version has `workers` live idle workers."
    h = _health(url, token)
    return h["status"] == "ok" and all(len(v["workers"]) == workers and all(w["state"] == "idle" for w in v["workers"])
                                       for v in h["versions"])


def _direct(url, token, deployment, data, **params) -> httpx.Response:
    return httpx.post(f"{url}/v2.1/projects/local/deployments/{deployment}/requests", content=data, params=params,
                      headers={**_auth(token), "Content-Type": "text/plain"}, timeout=120)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.fixture
def faults(tmp_path, monkeypatch):
    "A data folder serving the `faults` fixture as deployment `faults`; its token; the folder forked children use."
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("FAULTS_PIDS", str(pids))
    data = tmp_path / "data"
    return data, prepare(data, zip_folder(FIXTURES / "faults", tmp_path / "faults.zip"), "faults"), pids


# -- workers that die ------------------------------------------------------------------------------------------------

def test_a_worker_killed_while_idle_never_breaks_a_request(faults):
    data, token, _ = faults
    with running_server(settings(data, workers=2)) as url:
        victim = _health(url, token)["versions"][0]["workers"][0]["pid"]
        os.kill(victim, signal.SIGKILL)
        pids = lambda: [w["pid"] for w in _health(url, token)["versions"][0]["workers"]]
        wait_until(lambda: victim not in pids(), what="the server noticing the death")  # at once: no request needed
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: _direct(url, token, "faults", f"at-once-{i}"), range(4)))
        assert [(r.status_code, r.json()["status"]) for r in answers] == [(200, "completed")] * 4
        second = wait_until(lambda: _healthy(url, token, 2) and pids()[1], what="both workers back")
        os.kill(second, signal.SIGKILL)
        wait_until(lambda: second not in pids(), what="the server noticing the second death")
        created = api(url, token)[1].batch_deployment_requests_create("local", "faults", [f"b{i}" for i in range(4)])
        assert [r.status for r in wait_done(api(url, token)[1], "faults", [r.id for r in created])] == ["completed"] * 4
        wait_until(lambda: _healthy(url, token, 2), what="/health ok with 2 idle workers")


def test_a_worker_killed_mid_batch_request_fails_it_and_the_rest_complete(faults):
    data, token, _ = faults
    with running_server(settings(data, workers=2)) as url:
        core = api(url, token)[1]
        ids = [r.id for r in core.batch_deployment_requests_create("local", "faults", ["sleep:30", "a", "b", "c"])]
        busy = wait_until(lambda: [w["pid"] for w in _health(url, token)["versions"][0]["workers"]
                                   if w["state"] == "busy"], what="a busy worker")
        os.kill(busy[0], signal.SIGKILL)
        done = wait_done(core, "faults", ids, timeout=60)
        assert [r.status for r in done] == ["failed", "completed", "completed", "completed"]
        assert done[0].error_message == ("The deployment instance crashed (exit code -9) while handling the request; "
                                         "it is being replaced.")
        wait_until(lambda: _healthy(url, token, 2), what="/health ok with 2 idle workers")


def test_a_worker_that_forks_then_dies_fails_at_once_and_its_child_goes_too(faults):
    data, token, pids = faults
    with running_server(settings(data)) as url:
        r = _direct(url, token, "faults", "fork-exit", timeout=60).json()  # a hang would take the whole 60 s
        assert (r["status"], r["error_message"]) == ("failed", "The deployment instance crashed (exit code 5) while "
                                                               "handling the request; it is being replaced.")
        (child,) = [int(p.name) for p in pids.iterdir()]
        wait_until(lambda: not _alive(child), what="the forked child's end")
        assert _direct(url, token, "faults", "next").json()["status"] == "completed"


def test_a_hang_times_out_and_the_instance_is_replaced(faults):
    data, token, _ = faults
    with running_server(settings(data)) as url:
        core = api(url, token)[1]
        r = core.deployment_requests_create("local", "faults", "sleep:60", timeout=10)
        assert (r.status, r.timeout) == ("failed", 10)
        assert r.error_message == "Request timed out after 10 s; the instance was stopped and is being replaced."
        assert core.deployment_requests_create("local", "faults", "after").status == "completed"


# -- outputs that are not JSON -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def poison(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("poison")
    token = prepare(tmp / "data", zip_folder(FIXTURES / "poison", tmp / "poison.zip"), "poison")
    with running_server(settings(tmp / "data")) as url:
        yield url, token


@pytest.mark.parametrize("data, message", [
    ("set", "result.y.v is a set, which is not JSON data (list(s))"),
    ("bytes", "result.y.v is a bytes, which is not JSON data (s.decode() or base64)"),
    ("nan", "result.y.v[1] is nan, which JSON has no number for"),
    ("inf", "result.y.v is inf, which JSON has no number for"),
    ("big", "The deployment's output is 52,428,816 bytes of JSON; at most 16,777,216 are allowed."),
])
def test_poison_outputs_fail_the_request_with_where_and_why(poison, data, message):
    url, token = poison
    r = _direct(url, token, "poison", data)
    assert r.status_code == 200 and r.json()["status"] == "failed" and message in r.json()["error_message"]
    (created,) = api(url, token)[1].batch_deployment_requests_create("local", "poison", [data])
    (done,) = wait_done(api(url, token)[1], "poison", [created.id], timeout=60)
    assert done.status == "failed" and message in done.error_message
    assert _direct(url, token, "poison", "ok").json()["result"] == {"y": {"v": 1}}
    assert _health(url, token)["batch"] == {"pending": 0, "processing": 0}


# -- builds and deletes ------------------------------------------------------------------------------------------------

def _upload(url, token, deployment, version, zip_bytes) -> httpx.Response:
    return httpx.post(f"{url}/v2.1/projects/local/deployments/{deployment}/versions/{version}/revisions",
                      files={"file": ("p.zip", zip_bytes)}, headers=_auth(token), timeout=60)


def test_deleting_a_version_while_it_builds_stops_its_workers(faults, tmp_path, monkeypatch, caplog):
    data, token, _ = faults
    slow_pids = tmp_path / "slow"
    slow_pids.mkdir()
    monkeypatch.setenv("SLOW_INIT_PIDS", str(slow_pids))
    caplog.set_level(logging.ERROR, logger="asyncio")
    with running_server(settings(data, workers=2, build_wait=0)) as url:
        V = f"{url}/v2.1/projects/local/deployments/faults/versions"
        assert httpx.post(V, json={"version": "slow"}, headers=_auth(token)).status_code == 201
        zipped = zip_folder(FIXTURES / "slow_init", tmp_path / "slow.zip").read_bytes()
        assert _upload(url, token, "faults", "slow", zipped).status_code == 200
        pids = wait_until(lambda: [int(p.name) for p in slow_pids.iterdir()] if len(list(slow_pids.iterdir())) == 2
                          else None, what="both instances in __init__")
        assert httpx.delete(f"{V}/slow", headers=_auth(token), timeout=30).status_code == 204
        wait_until(lambda: not any(_alive(p) for p in pids), what="the build's workers' end")
        assert httpx.get(f"{V}/slow", headers=_auth(token)).status_code == 404
        assert _health(url, token)["status"] == "ok"
        assert _direct(url, token, "faults", "still").json()["status"] == "completed"
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_health_is_ok_again_once_a_failed_build_is_deleted(faults, tmp_path):
    data, token, _ = faults
    with running_server(settings(data)) as url:
        V = f"{url}/v2.1/projects/local/deployments/faults/versions"
        httpx.post(V, json={"version": "broken"}, headers=_auth(token))
        zipped = zip_folder(FIXTURES / "raises_in_init", tmp_path / "broken.zip").read_bytes()
        rid = _upload(url, token, "faults", "broken", zipped).json()["revision"]
        assert httpx.get(f"{V}/broken/revisions/{rid}", headers=_auth(token)).json()["status"] == "failed"
        assert _health(url, token)["status"] == "degraded"
        assert httpx.delete(f"{V}/broken", headers=_auth(token)).status_code == 204
        assert _health(url, token)["status"] == "ok"


def test_a_failed_build_at_start_up_is_said_loudly_before_serving(tmp_path, capfd):
    data, folder = tmp_path / "data", tmp_path / "broken"
    shutil.copytree(FIXTURES / "raises_in_init", folder)
    for spec in ("input_spec.json", "output_spec.json"):
        shutil.copyfile(FIXTURES / "faults" / spec, folder / spec)
    token = prepare(data, zip_folder(folder, tmp_path / "broken.zip"), "broken")
    with running_server(settings(data)) as url:
        err = capfd.readouterr().err
        assert ("ERROR: deployment version broken/v1 is not available: its build failed (Deployment.__init__ "
                "failed") in err
        assert _health(url, token)["status"] == "degraded"


# -- the server stopped with batches queued and in flight ------------------------------------------------------------

def _counts(url, token) -> dict:
    return _health(url, token)["batch"]


def _runs(runlog: Path) -> dict:
    "How often each request id ran, from the fixture's run log."
    out = {}
    for line in runlog.read_text().split() if runlog.exists() else []:
        out[line] = out.get(line, 0) + 1
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_batches_survive_the_server_stopping_and_each_ends_once(faults, tmp_path, sig):
    data, token, _ = faults
    runlog = tmp_path / "runs.log"
    server = ServerProcess(data, tmp_path / "server.log", env={"FAULTS_RUNLOG": str(runlog)}, workers=2,
                           shutdown_grace=10).start()
    core = api(server.url, token)[1]
    ids = [r.id for r in core.batch_deployment_requests_create("local", "faults", ["sleep:0.3"] * 30)]
    wait_until(lambda: _counts(server.url, token)["processing"] >= 1 and len(_runs(runlog)) >= 3,
               what="requests in flight and some done")
    server.stop(sig)
    left = Store(data / "state.sqlite").all("SELECT status, COUNT(*) AS n FROM requests GROUP BY status")
    assert {r["status"]: r["n"] for r in left}.get("pending", 0) > 0  # stopped with work queued
    server.start()
    done = wait_done(api(server.url, token)[1], "faults", ids, timeout=120)
    assert [r.status for r in done] == ["completed"] * 30
    runs = _runs(runlog)
    assert set(runs) == set(ids)  # every request ran
    if sig == signal.SIGTERM:  # in-flight requests finished within the grace: each ran once
        assert set(runs.values()) == {1}
    else:  # at least once: only those in flight at the kill (at most the 4 batch slots) ran twice
        assert sum(n - 1 for n in runs.values()) <= 4
    server.stop()
    before = dict(runs)
    server.start()  # a third start re-runs nothing: each result was written once
    assert _health(server.url, token)["batch"] == {"pending": 0, "processing": 0}
    assert _direct(server.url, token, "faults", "after").json()["status"] == "completed"
    assert {k: v for k, v in _runs(runlog).items() if k in before} == before
    server.stop()


# -- hostile requests --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    token = prepare(tmp / "data", zip_folder(FIXTURES / "faults", tmp / "faults.zip"), "faults")
    with running_server(settings(tmp / "data", workers=2)) as url:
        yield url, token, tmp / "data"


BODY_ROUTES = [("POST", "/deployments"), ("PATCH", "/deployments/faults"), ("POST", "/deployments/faults/versions"),
               ("PATCH", "/deployments/faults/versions/v1"), ("POST", "/environments"),
               ("POST", "/environments/x/tags"), ("POST", "/deployments/faults/requests"),
               ("POST", "/deployments/faults/requests/batch"), ("POST", "/deployments/faults/requests/collect"),
               ("POST", "/deployments/faults/versions/v1/revisions"), ("POST", "/environments/x/tags/v1/build")]


@pytest.mark.parametrize("method, path", BODY_ROUTES)
def test_without_a_token_a_body_is_never_read(server, method, path):
    "35 MB announced, none sent: the 401 comes back at once, from the headers alone."
    url = server[0]
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as s:
        s.sendall(f"{method} /v2.1/projects/local{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {35 * 2**20}\r\n\r\n".encode())
        head = s.recv(65536).decode("latin-1")  # a server waiting for the body would time out here
    assert head.startswith("HTTP/1.1 401 ")


def test_a_write_lock_held_elsewhere_never_holds_up_the_event_loop(server):
    url, token, data = server
    blocker = sqlite3.connect(data / "state.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another connection holds SQLite's write lock
    try:
        waiting = {}
        t = threading.Thread(target=lambda: waiting.update(r=httpx.post(
            f"{url}/v2.1/projects/local/deployments/faults/requests/batch", json=["x"], headers=_auth(token),
            timeout=60)))
        t.start()
        statuses = [httpx.get(f"{url}/v2.1/status", timeout=10).status_code for _ in range(5)]
        assert statuses == [200] * 5 and t.is_alive()  # answered while the batch waits for the lock
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    t.join(60)
    assert waiting["r"].status_code == 201


def _zip(entries: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return buf.getvalue()


def _bad_crc() -> bytes:
    good = _zip({"deployment_package/deployment.py": "x = 1\n" * 50})
    at = good.index(b"PK\x01\x02") + 16
    return good[:at] + bytes(b ^ 0xFF for b in good[at:at + 4]) + good[at + 4:]


def _understated() -> bytes:
    good = _zip({"deployment_package/deployment.py": "x = 1\n" * 50}, zipfile.ZIP_STORED)
    central = good.index(b"PK\x01\x02")
    for at in (good.index(b"PK\x03\x04") + 22, central + 24):  # the uncompressed size, in both headers
        good = good[:at] + (10).to_bytes(4, "little") + good[at + 4:]
    return good


def _bomb() -> bytes:
    "A zip of about 1 MiB that unpacks to 1 GiB of zeros, written in 1 MiB blocks."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("deployment_package/deployment.py", "")
        info = zipfile.ZipInfo("deployment_package/zeros")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            block = bytes(2**20)
            for _ in range(1024):
                f.write(block)
    return buf.getvalue()


@pytest.mark.parametrize("name, zipped, message", [
    ("bomb", _bomb, "Zip bomb: deployment_package/zeros unpacks to 1,073,741,824 bytes"),
    ("clash", lambda: _zip({"deployment_package/deployment.py": "", "deployment_package/x": "",
                            "deployment_package/x/y": ""}), "deployment_package/x is both a file and a folder"),
    ("crc", _bad_crc, "is damaged or unreadable"),
    ("size", _understated, "is damaged or unreadable"),
])
def test_a_bad_revision_zip_is_a_400(server, name, zipped, message):
    url, token, _ = server
    r = _upload(url, token, "faults", "v1", zipped())
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_hostile_bodies_and_names_are_4xx_never_500(server):
    url, token, _ = server
    F, D = f"{url}/v2.1/projects/local/buckets/default/files", f"{url}/v2.1/projects/local/deployments/faults"
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/requests", "/requests/batch", "/requests/collect"):
        r = httpx.post(D + path, content=deep, headers={**_auth(token), "Content-Type": "application/json"})
        assert r.status_code == 400 and "more than 100 levels deep" in r.json()["error"], (path, r.text)
    r = httpx.post(D + "/requests", json=["x"] * 251, headers=_auth(token))
    assert (r.status_code, r.json()["error"]) == (400, "A list of inputs holds 1 to 250; got 251.")
    assert httpx.post(f"{F}/{'y' * 256}", headers=_auth(token)).status_code == 400
    put = lambda name: httpx.put(httpx.post(f"{F}/{name}", headers=_auth(token)).json()["url"], content=b"x")
    assert put("a%2Fb").status_code == 201
    assert put("a").status_code == 409 and put("a%2Fb%2Fc").status_code == 409
    url_b = httpx.post(f"{F}/b", headers=_auth(token)).json()["url"]
    for expires in ("%C2%B2", "9" * 5000):
        r = httpx.put(url_b.split("expires=")[0] + f"expires={expires}&signature=00", content=b"x")
        assert r.status_code == 403, r.text
    listing = httpx.get(F, headers=_auth(token), follow_redirects=True)
    assert listing.status_code == 200 and listing.json()["files"][0]["file"] == "a/b"
    assert httpx.get(F + "/", headers=_auth(token)).status_code == 400


def test_two_creates_of_one_name_at_once_give_one_201_and_one_409(server):
    url, token, _ = server
    E = f"{url}/v2.1/projects/local/environments"
    for i in range(3):
        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(lambda _: httpx.post(E, json={"name": f"twin-{i}"},
                                                         headers=_auth(token)).status_code, range(2)))
        assert codes == [201, 409]
        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(lambda _: httpx.post(f"{E}/twin-{i}/tags", json={"name": "v1"},
                                                         headers=_auth(token)).status_code, range(2)))
        assert codes == [201, 409]


def test_a_relative_data_folder_and_default_instances_serve(tmp_path, monkeypatch):
    "`make serve`'s defaults: the relative folder serve-data (workers run elsewhere), instances from the version."
    monkeypatch.chdir(tmp_path)
    token = prepare(Path("serve-data"), zip_folder(FIXTURES / "faults", tmp_path / "faults.zip"), "faults")
    with running_server(ServeSettings(data_dir=Path("serve-data"), shutdown_grace=2)) as url:
        assert _direct(url, token, "faults", "hi").json()["status"] == "completed"
        assert _health(url, token)["status"] == "ok"
