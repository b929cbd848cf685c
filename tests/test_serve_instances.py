"""Instances: a crash, a hang or a restart in deployment code never takes the server down or loses a request."""
import os
import signal
import threading
import time

import httpx
import pytest
import ubiops

from mod.server.store import Store
from serve_support import FIXTURES, api, prepare, settings, stored, zip_folder
from server_fixture import running_server


@pytest.fixture
def faults(tmp_path):
    "A data folder serving the `faults` fixture package as deployment `faults`, and a token."
    data = tmp_path / "data"
    return data, prepare(data, zip_folder(FIXTURES / "faults", tmp_path / "faults.zip"), "faults")


def _health(url, token) -> dict:
    return httpx.get(f"{url}/v2.1/health", headers={"Authorization": f"Token {token}"}).json()


def _busy_worker_pid(url, token, timeout: float = 10) -> int:
    "The pid of the first worker that is busy, waiting for one up to `timeout` seconds."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [w["pid"] for w in _health(url, token)["versions"][0]["workers"] if w["state"] == "busy"]
        if busy:
            return busy[0]
        time.sleep(0.05)
    raise AssertionError(f"no worker became busy within {timeout} s")


def test_health_lists_loaded_versions_and_workers(faults):
    data, token = faults
    with running_server(settings(data, workers=2)) as url:
        health = _health(url, token)
    assert health["status"] == "ok"
    (v,) = health["versions"]
    assert (v["deployment"], v["version"], v["loaded"], v["instances"]) == ("faults", "v1", True, 2)
    assert [w["state"] for w in v["workers"]] == ["idle", "idle"]


def test_worker_killed_mid_request_fails_it_clearly_and_is_replaced(faults):
    data, token = faults
    with running_server(settings(data)) as url:
        _, core = api(url, token)
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=core.deployment_requests_create("local", "faults",
                                                                                               "sleep:20")))
        t.start()
        pid = _busy_worker_pid(url, token)
        os.kill(pid, signal.SIGKILL)
        t.join(10)
        r = answer["r"]
        assert (r.status, r.result) == ("failed", None)
        assert r.error_message == ("The deployment instance crashed (exit code -9) while handling the request; "
                                   "it is being replaced.")
        nxt = core.deployment_requests_create("local", "faults", "hello")  # waits for the replacement
        assert nxt.status == "completed" and nxt.result.endswith(":hello")
        assert int(nxt.result.split(":")[0]) != pid


def test_crash_inside_request_fails_only_that_request(faults):
    data, token = faults
    with running_server(settings(data)) as url:
        _, core = api(url, token)
        r = core.deployment_requests_create("local", "faults", "exit")
        assert (r.status, r.error_message) == ("failed", "The deployment instance crashed (exit code 3) while "
                                                         "handling the request; it is being replaced.")
        assert core.deployment_requests_create("local", "faults", "next").status == "completed"


def test_timeout_outside_the_contract_range_is_a_400(faults):
    data, token = faults
    with running_server(settings(data)) as url:
        r = httpx.post(f"{url}/v2.1/projects/local/deployments/faults/requests?timeout=5", content="x",
                       headers={"Authorization": f"Token {token}", "Content-Type": "text/plain"})
        assert (r.status_code, r.json()) == (400, {"error": "timeout is 5; allowed: 10 to 3600 seconds."})


def test_streaming_request_yields_the_partial_results_then_the_answer(faults):
    data, token = faults
    with running_server(settings(data)) as url:
        client, core = api(url, token)
        parts = list(ubiops.utils.stream_deployment_request(client, "local", "faults", data="stream:a,b,c",
                                                            full_response=True))
        assert parts[:3] == ["a", "b", "c"]
        assert (parts[3].status, parts[3].result.endswith(":stream:a,b,c")) == ("completed", True)
        with pytest.raises(ubiops.UbiOpsException, match="crashed"):  # a failed request raises in the client
            list(ubiops.utils.stream_deployment_request(client, "local", "faults", data="exit"))
        r = httpx.post(f"{url}/v2.1/projects/local/deployments/faults/requests/stream", json={"not": "text"},
                       headers={"Authorization": f"Token {token}"})
        assert (r.status_code, r.json()["error"][:30]) == (400, "Input must be plain text (a st")


def test_non_json_output_fails_with_how_to_fix(faults):
    data, token = faults
    with running_server(settings(data)) as url:
        r = api(url, token)[1].deployment_requests_create("local", "faults", "numpy")
        assert r.status == "failed"
        assert r.error_message.startswith("The deployment returned a numpy.") and "float(x)" in r.error_message


def test_shutdown_lets_the_running_request_finish(faults):
    data, token = faults
    answer = {}
    with running_server(settings(data, shutdown_grace=60)) as url:  # the grace is an upper bound: no race
        core = api(url, token)[1]
        t = threading.Thread(target=lambda: answer.update(r=core.deployment_requests_create("local", "faults",
                                                                                               "sleep:1")))
        t.start()
        _busy_worker_pid(url, token)
    t.join(60)  # the server stopped while the request ran
    assert (answer["r"].status, answer["r"].result.endswith(":sleep:1")) == ("completed", True)


@pytest.mark.parametrize("mode, kept", [("full", ("x", True)), ("metadata", (None, False)), ("none", None)])
def test_request_retention_mode_decides_what_is_kept(tmp_path, mode, kept):
    from mod.server.registry import Registry
    data = tmp_path / "data"
    token = prepare(data, zip_folder(FIXTURES / "faults", tmp_path / "faults.zip"), "faults")
    store = Store(data / "state.sqlite")
    Registry(store, data).update_version("local", "faults", "v1", {"request_retention_mode": mode})
    store.close()
    with running_server(settings(data)) as url:
        core = api(url, token)[1]
        r = core.deployment_requests_create("local", "faults", "x")
        if kept is None:
            with pytest.raises(ubiops.ApiException) as e:
                core.deployment_requests_get("local", "faults", r.id)
            assert e.value.status == 404
        else:
            stored(core, "faults", r.id)  # stored once the answer has gone
            got = core.deployment_requests_get("local", "faults", r.id)
            assert (got.request_data, got.result is not None) == kept and got.status == "completed"
