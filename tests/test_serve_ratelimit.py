"""UbiOps' rate limits on the local server: x-ratelimit-* headers, 429s per endpoint group, signed URLs exempt, off
by default."""
import httpx
import pytest

from mod.cli import main
from serve_support import FIXTURES, api, prepare, settings, zip_folder
from server_fixture import running_server


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ratelimit")
    return tmp / "data", prepare(tmp / "data", zip_folder(FIXTURES / "faults", tmp / "faults.zip"), "faults")


def _get(url, token, path):
    return httpx.get(f"{url}/v2.1/projects/local{path}", headers={"Authorization": f"Token {token}"})


def test_no_limit_and_no_headers_by_default(data):
    with running_server(settings(data[0])) as url:
        answers = [_get(url, data[1], "/deployments") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert "x-ratelimit-limit" not in answers[-1].headers


def test_each_group_has_its_own_budget_and_a_429_says_when_to_retry(data):
    with running_server(settings(data[0], rate_limits={"general": 2, "files": 1}, rate_window=60)) as url:
        general = [_get(url, data[1], "/deployments") for _ in range(3)]
        files = [_get(url, data[1], "/buckets/default/files") for _ in range(2)]
        requests = _get(url, data[1], "/deployments/faults/requests")  # no limit set for the requests group
    assert [a.status_code for a in general] == [200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in general] == ["1", "0", "0"]
    assert general[0].headers["x-ratelimit-limit"] == "2" and 1 <= int(general[2].headers["x-ratelimit-reset"]) <= 60
    assert general[2].json()["error"].startswith("Rate limit exceeded: at most 2 calls in 60 s to the general "
                                                 "endpoints")
    assert [a.status_code for a in files] == [200, 429]
    assert requests.status_code == 200 and "x-ratelimit-limit" not in requests.headers


def test_signed_url_transfers_are_not_counted(data):
    with running_server(settings(data[0], rate_limits={"files": 1}, rate_window=60)) as url:
        upload = api(url, data[1])[1].files_upload("local", "default", "free.bin")  # the one files call
        puts = [httpx.put(upload.url, content=b"x") for _ in range(3)]
    assert [p.status_code for p in puts] == [201] * 3


def test_serve_refuses_a_bad_rate_limit(capsys):
    assert main(["serve", "--package", "", "--rate-limit", "uploads=5"]) == 1
    assert "'uploads' is not an endpoint group; groups: requests, files, user, general" in capsys.readouterr().err
