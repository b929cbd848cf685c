"""`/metrics` on a real server after real requests, read with prometheus_client's own parser."""
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serve_support import FIXTURES, prepare, settings, wait_until, zip_folder
from server_fixture import running_server

PLAIN = {"Content-Type": "text/plain"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "faults/v1 (one instance); an httpx client with the token."
    tmp = tmp_path_factory.mktemp("metrics")
    token = prepare(tmp / "data", zip_folder(FIXTURES / "faults", tmp / "faults.zip"), "faults")
    with running_server(settings(tmp / "data", rate_limits={"user": 1}, rate_window=60)) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=60) as http:
            http.faults_zip = tmp / "faults.zip"  # for a new revision of v1
            yield http


def scrape(http) -> dict:
    "{(name, sorted label pairs): value} of one scrape."
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def scrape_until(http, check, what: str) -> dict:
    "The first scrape that passes `check` (bounded: 30 s)."
    return wait_until(lambda: next((s for s in [scrape(http)] if check(s)), None), 30, what)


def at(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted({"deployment": "faults", "version": "v1", **labels}.items()))), 0)


def test_metrics_need_a_token(server):
    r = httpx.get(f"{server.base_url}/metrics")
    assert r.status_code == 401 and "Authentication credentials were not provided" in r.json()["error"]


def test_requests_are_counted_by_mode_and_outcome_with_their_duration(server):
    before = scrape(server)
    R = "/v2.1/projects/local/deployments/faults/requests"
    assert server.post(R, content="sleep:0.2", headers=PLAIN).json()["status"] == "completed"
    ids = [r["id"] for r in server.post(f"{R}/batch", json=["a", "b"]).json()]
    wait_until(lambda: all(r["status"] == "completed" for r in server.post(f"{R}/collect", json=ids).json()), 30,
               "the batch to finish")
    after = scrape(server)
    delta = lambda name, **labels: at(after, name, **labels) - at(before, name, **labels)
    assert delta("mod_requests_total", mode="direct", status="completed") == 1
    assert delta("mod_requests_total", mode="batch", status="completed") == 2
    assert delta("mod_request_duration_seconds_count", mode="direct") == 1
    assert delta("mod_request_duration_seconds_sum", mode="direct") >= 0.2
    assert delta("mod_request_duration_seconds_bucket", mode="direct", le="0.1") == 0


def test_a_crashed_instance_is_a_failed_request_and_a_restart(server):
    before = scrape(server)
    R = "/v2.1/projects/local/deployments/faults/versions/v1/requests"
    assert server.post(R, content="exit", headers=PLAIN).json()["status"] == "failed"
    after = scrape_until(server, lambda s: at(s, "mod_instances", state="idle") == 1, "the instance to be replaced")
    assert at(after, "mod_requests_total", mode="direct", status="failed") - \
        at(before, "mod_requests_total", mode="direct", status="failed") == 1
    assert at(after, "mod_instance_restarts_total") - at(before, "mod_instance_restarts_total") == 1


def test_queue_depth_and_busy_instances_while_a_batch_runs(server):
    R = "/v2.1/projects/local/deployments/faults/requests"
    ids = [r["id"] for r in server.post(f"{R}/batch", json=["sleep:1", "sleep:1", "sleep:1"]).json()]
    running = scrape_until(server, lambda s: at(s, "mod_instances", state="busy") == 1, "an instance to be busy")
    assert at(running, "mod_batch_queue", status="processing") >= 1
    assert 1 <= at(running, "mod_batch_queue", status="pending") + at(running, "mod_batch_queue", status="processing")
    wait_until(lambda: all(r["status"] == "completed" for r in server.post(f"{R}/collect", json=ids).json()), 30,
               "the batch to finish")
    done = scrape(server)
    assert [at(done, "mod_batch_queue", status=s) for s in ("pending", "processing")] == [0, 0]
    assert [at(done, "mod_instances", state=s) for s in ("busy", "idle")] == [0, 1]


def test_builds_are_counted_by_outcome(server, tmp_path):
    V = "/v2.1/projects/local/deployments/faults/versions"
    server.post(V, json={"version": "broken"})
    broken = zip_folder(FIXTURES / "raises_in_init", tmp_path / "broken.zip").read_bytes()
    for version, package in (("broken", broken), ("v1", server.faults_zip.read_bytes())):
        server.post(f"{V}/{version}/revisions", files={"file": ("p.zip", package)})
    samples = scrape(server)
    assert at(samples, "mod_builds_total", version="broken", outcome="failed") == 1
    assert at(samples, "mod_builds_total", outcome="success") >= 1
    assert at(samples, "mod_instances", version="broken", state="idle") == 0


def test_429s_are_counted_by_group_and_scrapes_are_not_rate_limited(server):
    before = scrape(server)
    assert [server.get("/v2.1/user").status_code for _ in range(2)] == [200, 429]  # user calls: 1 a minute here
    after = scrape(server)
    assert after[("mod_rate_limited_total", (("group", "user"),))] - \
        before.get(("mod_rate_limited_total", (("group", "user"),)), 0) == 1
