"""`mod predict FOLDER|GLOB|LIST` (mod.cloud.score, mod.cloud.bulk): the official client against a real local server
(its requests list, bucket listing, `/requests/{id}/output`, and its rate limits on a second server), a real scorer
subprocess killed half-way, and a small middleware for what a test must provoke (kills at chosen moments, collect
answers without the deprecated `result`, a server without the requests list)."""
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace as NS

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from mod.cli import main
from mod.server.app import API as PREFIXES, create_app
from mod.server.ratelimit import GROUPS
from serve_support import prepare, settings, wait_until, zip_folder
from server_fixture import running_app, running_server

MOD = Path(sys.executable).parent / "mod"
D = "bulk"  # the fixture deployment: a file and a threshold in; the file's sha256 and a bool out

DEPLOYMENT_PY = '''"""Fixture for the bulk scorer: answers a file's sha256; a file not starting with IMG is "not an image"."""
import hashlib
import time


class NotAnImage(Exception):
    def __init__(self, msg):
        super().__init__(msg)
        self.public_error_message = msg


class Deployment:
    def __init__(self, base_directory, context):
        pass

    def request(self, data):
        with open(data["portrait"], "rb") as f:
            body = f.read()
        if not body.startswith(b"IMG"):
            raise NotAnImage("The file is not an image.")
        time.sleep(0.02)
        return {"sha256": hashlib.sha256(body).hexdigest(), "above": len(body) > data["threshold"]}
'''
INPUTS = [{"name": "portrait", "data_type": "file"}, {"name": "threshold", "data_type": "double"}]
OUTPUTS = [{"name": "sha256", "data_type": "string"}, {"name": "above", "data_type": "bool"}]


def fixture_zip(folder: Path, input_fields=INPUTS, input_type="structured") -> Path:
    "A tiny package whose input spec the test controls."
    folder.mkdir(parents=True)
    (folder / "deployment.py").write_text(DEPLOYMENT_PY)
    (folder / "input_spec.json").write_text(json.dumps({"input_type": input_type, "input_fields": input_fields}))
    (folder / "output_spec.json").write_text(json.dumps({"output_type": "structured", "output_fields": OUTPUTS}))
    return zip_folder(folder, folder.with_suffix(".zip"))


# -- test devices around the real app ----------------------------------------------------------------------------
class Fakes:
    "A middleware around a real server app for what a test must provoke: kills at chosen moments, an older UbiOps."

    def __init__(self, app):
        self.app = app
        self.reset()

    def reset(self):
        self.log = []  # (method, path) of every API call
        self.kill = None  # (pid, n, "before"|"after"): SIGKILL the scorer at its n-th batch creation
        self.batches, self.strip_results, self.no_list = 0, False, False

    def install(self):
        self.app.add_middleware(BaseHTTPMiddleware, dispatch=self.dispatch)

    async def dispatch(self, request: Request, call_next):
        path = request.url.path
        if not path.startswith(PREFIXES) or "/signed/" in path:  # signed URLs go to storage on UbiOps: no API call
            return await call_next(request)
        self.log.append((request.method, path))
        if self.no_list and request.method == "GET" and path.endswith("/requests"):  # a server without the list
            return JSONResponse({"error": "Not Found"}, 404)
        batch = request.method == "POST" and path.endswith("/requests/batch")
        self.batches += batch
        kill = self.kill if batch and self.kill and self.kill[1] == self.batches else None
        if kill and kill[2] == "before":  # the request never reaches the server
            os.kill(kill[0], signal.SIGKILL)
            return JSONResponse({"error": "gone"}, 503)
        response = await call_next(request)
        if kill:  # created, but the scorer dies before it reads the answer
            os.kill(kill[0], signal.SIGKILL)
        if self.strip_results and path.endswith("/collect"):  # UbiOps once `result` (deprecated) is gone
            rows = json.loads(b"".join([chunk async for chunk in response.body_iterator]))
            response = JSONResponse([{**r, "result": None} for r in rows], response.status_code)
        return response


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "One real server with the fixture as `bulk` (and variants of its spec), the fakes around it; (url, token, fakes)."
    tmp = tmp_path_factory.mktemp("bulk")
    data = tmp / "data"
    token = prepare(data, fixture_zip(tmp / "bulk"), D)
    prepare(data, fixture_zip(tmp / "two-files", INPUTS + [{"name": "mask", "data_type": "file"}]), "two-files")
    prepare(data, fixture_zip(tmp / "plain", [], "plain"), "plain")
    app = create_app(settings(data, max_upload_mb=1))
    fakes = Fakes(app)
    fakes.install()
    with running_app(app) as url:
        yield NS(url=url, token=token, fakes=fakes, db=data / "state.sqlite")


@pytest.fixture
def fakes(server):
    server.fakes.reset()
    yield server.fakes
    server.fakes.reset()


@pytest.fixture
def env(server, monkeypatch) -> dict:
    "The environment `mod predict` reads (also for subprocesses)."
    values = {"UBIOPS_API_TOKEN": server.token, "UBIOPS_PROJECT": "local", "UBIOPS_API_HOST": f"{server.url}/v2.1"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **values}


# -- helpers -------------------------------------------------------------------------------------------------------
def portraits(folder: Path, n: int, tag: str) -> list:
    "`n` small fake images with contents unique to `tag` (so each test's inputs are its own on the server)."
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"p{i:03d}.img" for i in range(n)]
    for i, p in enumerate(paths):
        p.write_bytes(b"IMG" + f"{tag}-{i}".encode() + b"." * (i * 7))
    return paths


def lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def submissions(server, deployment: str = D) -> Counter:
    "How many requests the server holds per file URI."
    with sqlite3.connect(server.db) as db:
        rows = db.execute("SELECT request_data FROM requests WHERE deployment = ?", (deployment,)).fetchall()
    return Counter(json.loads(r[0])["portrait"] for r in rows)


def sent_per_file(server, files: list) -> dict:
    "How many requests the server holds for each of `files` (uploaded under their sha256) per copy of it."
    uris, copies = submissions(server), Counter(sha(f) for f in files)
    return {f.name: sum(n for u, n in uris.items() if sha(f) in u) / copies[sha(f)] for f in files}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def predict(*args) -> int:
    return main(["predict", *map(str, args), "--deployment", D, "--quiet"])


def check_answers(out: Path, files: list, threshold: float = 10):
    got = {line["input"]: line for line in lines(out)}
    assert len(got) == len(lines(out)), "an input was answered twice"
    for f in files:
        line = got[str(f)]
        assert (line["status"], line["error"]) == ("completed", None), line
        assert line["result"] == {"sha256": sha(f), "above": f.stat().st_size > threshold}


# -- tests ---------------------------------------------------------------------------------------------------------
def test_folder_with_bad_files_and_per_input_values(server, fakes, env, tmp_path):
    good = portraits(tmp_path / "photos", 12, "values")
    bad = {"empty.img": b"", "notes.txt": b"hello", "big.img": b"IMG" + b"." * (2 * 2**20), "odd.img": b"IMG odd"}
    for name, body in bad.items():
        (tmp_path / "photos" / name).write_bytes(body)
    rows = ["portrait,threshold", *(f"{p.name},{20 if i % 2 else 5}" for i, p in enumerate(good)),
            "empty.img,1", "notes.txt,1", "big.img,1", "odd.img,abc"]
    (tmp_path / "values.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "scores.jsonl"
    assert predict(tmp_path / "photos", "--data", tmp_path / "values.csv", "--output", out) == 0
    got = {Path(line["input"]).name: line for line in lines(out)}
    assert len(got) == len(good) + len(bad) == len(lines(out))
    for i, p in enumerate(good):
        assert got[p.name]["result"] == {"sha256": sha(p), "above": p.stat().st_size > (20 if i % 2 else 5)}
    assert (got["empty.img"]["status"], got["empty.img"]["error"]) == ("rejected", "The file is empty (0 bytes).")
    assert (got["notes.txt"]["status"], got["notes.txt"]["error"]) == ("failed", "The file is not an image.")
    assert got["notes.txt"]["request_id"]
    assert got["big.img"]["status"] == "rejected" and got["big.img"]["error"].startswith("The upload was refused (413)")
    assert got["odd.img"] == {"input": str(tmp_path / "photos" / "odd.img"), "request_id": None, "status": "rejected",
                              "result": None, "error": "Input field 'threshold': 'abc' is not a number."}
    assert list(sent_per_file(server, good + [tmp_path / "photos" / "notes.txt"]).values()) == [1] * 13

    fakes.log.clear()  # run again: everything is answered, so nothing is uploaded or sent
    assert predict(tmp_path / "photos", "--data", tmp_path / "values.csv", "--output", out) == 0
    assert len(lines(out)) == len(good) + len(bad)
    assert not [c for c in fakes.log if c[0] == "POST"], fakes.log


def test_an_input_the_api_refuses_is_split_out_of_its_batch(server, fakes, env, tmp_path):
    good = portraits(tmp_path / "photos", 9, "split")
    missing = "ubiops-file://default/mod-score/not-uploaded.img"
    (tmp_path / "inputs.txt").write_text("\n".join([*(f"photos/{p.name}" for p in good[:5]), missing,
                                                    *(f"photos/{p.name}" for p in good[5:])]) + "\n")
    (tmp_path / "threshold.json").write_text('{"threshold": 10}')
    out = tmp_path / "scores.jsonl"
    assert predict(tmp_path / "inputs.txt", "--data", tmp_path / "threshold.json", "--output", out) == 0
    got = {line["input"]: line for line in lines(out)}
    assert got[missing]["status"] == "rejected" and "was not found" in got[missing]["error"]
    assert all(got[f"photos/{p.name}"]["result"]["sha256"] == sha(p) for p in good)
    assert sum(1 for c in fakes.log if c[1].endswith("/requests/batch")) > 2  # refused, then halved
    assert list(sent_per_file(server, good).values()) == [1] * 9 and len(lines(out)) == 10


def test_files_in_the_bucket_are_not_uploaded_again(server, fakes, env, tmp_path):
    files = portraits(tmp_path / "photos", 6, "again")
    (tmp_path / "t.json").write_text('{"threshold": 1}')
    for out in ("first.jsonl", "second.jsonl"):  # a second output has no journal: the bucket listing says
        fakes.log.clear()
        assert predict(tmp_path / "photos", "--data", tmp_path / "t.json", "--output", tmp_path / out) == 0
    uploads = [c for c in fakes.log if c[0] == "POST" and "/buckets/" in c[1]]
    assert uploads == [] and any(c[0] == "GET" and c[1].endswith("/buckets/default/files") for c in fakes.log)
    check_answers(tmp_path / "second.jsonl", files, threshold=1)


def test_results_come_from_the_output_endpoint_when_collect_has_none(server, fakes, env, tmp_path):
    files = portraits(tmp_path / "photos", 5, "output")
    (tmp_path / "t.json").write_text('{"threshold": 10}')
    fakes.strip_results = True
    assert predict(tmp_path / "photos", "--data", tmp_path / "t.json", "--output", tmp_path / "s.jsonl") == 0
    check_answers(tmp_path / "s.jsonl", files)
    assert sum(1 for c in fakes.log if c[1].endswith("/output")) == 5


def test_csv_output_has_a_column_per_output_field(server, fakes, env, tmp_path):
    files = portraits(tmp_path / "photos", 3, "csv")
    (tmp_path / "t.json").write_text('{"threshold": 10}')
    assert predict(tmp_path / "photos", "--data", tmp_path / "t.json", "--output", tmp_path / "s.csv") == 0
    text = (tmp_path / "s.csv").read_text().splitlines()
    assert text[0] == "input,request_id,status,error,sha256,above"
    assert sorted(t.split(",")[4] for t in text[1:]) == sorted(sha(f) for f in files)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    "A second real server with UbiOps' rate limits turned on, scaled down: 9 calls per 3 s per endpoint group."
    tmp = tmp_path_factory.mktemp("limited")
    token = prepare(tmp / "data", fixture_zip(tmp / "bulk"), D)
    with running_server(settings(tmp / "data", rate_limits=dict.fromkeys(GROUPS, 9), rate_window=3)) as url:
        with httpx.Client(base_url=f"{url}/v2.1/projects/local", headers={"Authorization": f"Token {token}"}) as http:
            wait_until(lambda: http.get(f"/deployments/{D}/versions/v1").json().get("status") == "available", 60,
                       "the fixture version to load")
            yield NS(url=url, token=token, http=http)


def test_rate_limit_headers_pace_the_calls_and_429s_are_waited_out(limited, monkeypatch, tmp_path, capsys):
    files = portraits(tmp_path / "photos", 16, "limits")
    (tmp_path / "t.json").write_text('{"threshold": 10}')
    env = {"UBIOPS_API_TOKEN": limited.token, "UBIOPS_PROJECT": "local", "UBIOPS_API_HOST": f"{limited.url}/v2.1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for _ in range(30):  # another client uses up this window's files budget: the scorer's first files call is a 429
        if limited.http.get("/buckets/default/files").status_code == 429:
            break
    started = time.monotonic()
    assert main(["predict", str(tmp_path / "photos"), "--deployment", D, "--data", str(tmp_path / "t.json"),
                 "--output", str(tmp_path / "s.jsonl")]) == 0
    check_answers(tmp_path / "s.jsonl", files)
    assert time.monotonic() - started >= 3  # 17 file calls at 9 per 3 s, after a window used up
    refused = re.findall(r"\((\d+) x 429", capsys.readouterr().err)
    assert refused and 1 <= int(refused[-1]) <= 3, refused  # the headers, not 429s, set the pace
    scraped = limited.http.get(f"{limited.url}/metrics").text  # the server counted the same 429s, and the burner's
    counts = {s.labels["group"]: s.value for f in text_string_to_metric_families(scraped) for s in f.samples
              if s.name == "mod_rate_limited_total"}
    assert sum(counts.values()) == int(refused[-1]) + 1 and counts["files"] >= 2, counts


def _scorer(folder: Path, out: Path, env: dict, *extra) -> subprocess.Popen:
    return subprocess.Popen([str(MOD), "predict", str(folder), "--deployment", D, "--data", str(folder.parent / "t.json"),
                             "--output", str(out), "--batch_size", "8", "--quiet", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def _finish_and_check(server, folder, out, env, files):
    rerun = _scorer(folder, out, env)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    check_answers(out, files)
    sent = sent_per_file(server, files)
    assert list(sent.values()) == [1] * len(files), sent
    assert len(lines(out)) == len(files)
    return stderr


@pytest.mark.parametrize("when", ["uploading", "answering"])
def test_killed_scorer_resumes_every_input_answered_once(server, fakes, env, tmp_path, when):
    files = portraits(tmp_path / "photos", 100, f"kill-{when}")
    (tmp_path / "t.json").write_text('{"threshold": 10}')
    out = tmp_path / "scores.jsonl"
    first = _scorer(tmp_path / "photos", out, env)
    journal = Path(f"{out}.journal")
    if when == "uploading":
        _wait_for(lambda: journal.exists() and '"e":"upload"' in journal.read_text(), 60, "a first upload")
    else:
        _wait_for(lambda: out.exists() and out.read_text().count("\n") >= 1, 60, "a first answer")  # soon: the rest are still to come
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    before = len(lines(out))
    _finish_and_check(server, tmp_path / "photos", out, env, files)
    assert before < len(files)


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_while_a_batch_is_created_no_input_is_sent_twice(server, fakes, env, tmp_path, when):
    "SIGKILL at the worst moments: the batch's intent is journaled, and the server has (or has not) created it."
    files = portraits(tmp_path / "photos", 40, f"batch-{when}")
    files.append(tmp_path / "photos" / "p010-copy.img")  # the same data twice: two inputs, two requests
    files[-1].write_bytes(files[10].read_bytes())
    (tmp_path / "t.json").write_text('{"threshold": 10}')
    out = tmp_path / "scores.jsonl"
    first = _scorer(tmp_path / "photos", out, env)
    fakes.kill = (first.pid, 2, when)
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    fakes.kill = None
    stderr = _finish_and_check(server, tmp_path / "photos", out, env, files)
    assert "sent again" not in stderr


def test_without_a_request_list_a_lost_batch_is_sent_again_with_a_warning(server, fakes, env, tmp_path):
    files = portraits(tmp_path / "photos", 20, "nolist")
    (tmp_path / "t.json").write_text('{"threshold": 10}')
    out = tmp_path / "scores.jsonl"
    first = _scorer(tmp_path / "photos", out, env)
    fakes.kill, fakes.no_list = (first.pid, 1, "after"), True
    first.communicate(timeout=60)
    rerun = _scorer(tmp_path / "photos", out, env)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0 and "can't list requests (404)" in stderr and "sent again" in stderr
    assert len(lines(out)) == len(files)


@pytest.mark.parametrize("deployment, message", [
    ("plain", "The deployment's input has no file field (fields: none: its input is plain)"),
    ("two-files", "several file fields (portrait, mask): choose the one each file goes into with --field NAME"),
])
def test_a_deployment_without_one_clear_file_field_is_refused(server, env, tmp_path, capsys, deployment, message):
    portraits(tmp_path / "photos", 2, "refused")
    assert main(["predict", str(tmp_path / "photos"), "--deployment", deployment, "--output", str(tmp_path / "s.jsonl")]) == 1
    assert message in capsys.readouterr().err


def test_missing_values_stop_the_run_before_any_upload(server, fakes, env, tmp_path, capsys):
    portraits(tmp_path / "photos", 3, "novalues")
    assert predict(tmp_path / "photos", "--output", tmp_path / "s.jsonl") == 1
    assert "3 input(s) have no value for threshold" in capsys.readouterr().err
    assert not list(tmp_path.glob("s.jsonl*"))  # a run that never began leaves no file behind
    assert not [c for c in fakes.log if c[0] == "POST"]
