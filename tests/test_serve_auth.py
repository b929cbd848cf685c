"""Auth: a live token on every route but /status; 401 {"error": ...} otherwise; `mod token`; `--no-auth`."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import ubiops

from mod.server.auth import Tokens
from mod.server.store import Store
from serve_support import FIXTURES, api, prepare, settings, zip_folder
from server_fixture import running_server

MOD = Path(sys.executable).parent / "mod"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    data = tmp / "data"
    token = prepare(data, zip_folder(FIXTURES / "faults", tmp / "faults.zip"), "faults")
    with running_server(settings(data)) as url:
        yield url, token, data


def _status_and_error(call) -> tuple:
    with pytest.raises(ubiops.ApiException) as e:
        call()
    return e.value.status, json.loads(e.value.body)["error"]


def test_status_needs_no_token(server):
    assert api(server[0])[1].service_status().status == "ok"


def test_missing_token_is_401(server):
    status, error = _status_and_error(lambda: api(server[0])[1].projects_list())
    assert (status, error.split(":")[0]) == (401, "Authentication credentials were not provided")


def test_wrong_token_is_401(server):
    status, error = _status_and_error(lambda: api(server[0], "not-a-token")[1].deployment_requests_create(
        "local", "faults", "hi"))
    assert (status, error) == (401, "Invalid token: it is unknown or revoked. Create one with `mod token create`.")


def test_token_created_and_revoked_with_the_cli(server):
    url, _, data = server
    out = subprocess.run([MOD, "token", "create", "--name", "cli", "--data-dir", data], capture_output=True,
                         text=True, check=True).stdout
    token_id, token = out.split()[2].rstrip("."), out.split("\n")[2].strip()
    assert api(url, token)[1].deployment_requests_create("local", "faults", "hi").status == "completed"
    listed = subprocess.run([MOD, "token", "list", "--data-dir", data], capture_output=True, text=True).stdout
    assert token_id in listed and token not in listed  # the secret is shown once, at creation
    subprocess.run([MOD, "token", "revoke", token_id, "--data-dir", data], check=True, capture_output=True)
    status, _ = _status_and_error(lambda: api(url, token)[1].projects_list())
    assert status == 401  # a revoked token stops working on the running server at once


def test_only_the_digest_is_stored(server):
    url, token, data = server
    store = Store(data / "state.sqlite")
    rows = store.all("SELECT * FROM tokens")
    store.close()
    assert rows and token not in json.dumps(rows)


def test_no_auth_serves_without_tokens_and_warns(tmp_path):
    data = tmp_path / "data"
    prepare(data, zip_folder(FIXTURES / "faults", tmp_path / "faults.zip"), "faults")
    with running_server(settings(data, auth=False)) as url:
        assert api(url)[1].deployment_requests_create("local", "faults", "open").status == "completed"
    proc = subprocess.Popen([MOD, "serve", "--no-auth", "--package", "", "--port", "0", "--data-dir", data],
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(30)
    assert first == "WARNING: --no-auth: the API accepts requests without a token.\n"


def test_tokens_compare_in_constant_time_over_every_live_digest(tmp_path):
    tokens = Tokens(Store(tmp_path / "s.sqlite"))
    secrets = [tokens.create(str(i))[1] for i in range(3)]
    assert all(tokens.check(s) for s in secrets) and not tokens.check(secrets[0][:-1])
