"""The contract with UbiOps, checked against the local server through the official 4.15 client (issue 10).

1. Every client call mod makes (found in mod.cloud's source, plus the ones ubiops.utils makes for it) is driven by
   real `mod deploy`, `mod versions` and `mod predict` runs while DeprecationWarning is an error. Each answer must
   deserialise into the model the client itself declares for that call (`response_type` in ubiops.api), and hold
   no field the 4.15 model does not know.
2. What the local server must refuse, or do, as UbiOps does.
"""
import importlib
import inspect
import json
import pkgutil
import re
import time
import warnings
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest
import ubiops
import ubiops.api

from mod.build.rules import environment_zip
from mod.build.zips import environment_files
from mod.cloud.config import DeployError, Target
from mod.cloud.deploy import deploy
from mod.cloud.versions import Versions, predict
from mod.server.app import ServeSettings
from mod.server.auth import Tokens
from mod.server.store import Store
from conftest import PORTRAIT
from deploy_support import CONFIG, ROOT, config, environment_package, failed_environment, variant
from serve_support import prepare, stored, zip_folder
from server_fixture import running_server

D = "face-portrait"


# 1. Every call mod makes answers in the client's own models, without a deprecation warning

def calls_in_mod() -> set:
    "The CoreApi methods mod.cloud calls or passes on: `api.name`, `CoreApi(client).name`, `_call(\"name\"`."
    found = set()
    for path in (ROOT / "libraries" / "mod" / "cloud").glob("*.py"):
        found |= {m[1] or m[2] for m in re.finditer(r"\b(?:api|CoreApi\([^()]*\))\.(\w+)\b|_call\(\"(\w+)\"",
                                                     path.read_text())}
    return {name for name in found if callable(getattr(ubiops.CoreApi, name, None))}  # not `api.ubiops.com`


UTILS_CALLS = {"files_upload"}  # what ubiops.utils.upload_file calls for mod (wait_for_* call mod's own lookups)
CALLS = sorted(calls_in_mod() | UTILS_CALLS)
LOOKUPS = {"deployments_get", "environments_get", "environment_tags_get", "files_get"}  # mod reads a 404 as "not there yet"


def response_type(call: str) -> str:
    "The model the 4.15 client deserialises `call`'s answer into, read from its own source (`response_type=`)."
    for info in pkgutil.iter_modules(ubiops.api.__path__):
        for cls in vars(importlib.import_module(f"ubiops.api.{info.name}")).values():
            if inspect.isclass(cls) and hasattr(cls, f"{call}_with_http_info"):
                source = inspect.getsource(getattr(cls, f"{call}_with_http_info"))
                return re.search(r'response_type=("?)([^",)]*)\1', source)[2]
    raise LookupError(f"ubiops {ubiops.__version__} has no method {call}")


def _model(kind: str):
    return getattr(ubiops.models, kind, None)


def _record(mp: pytest.MonkeyPatch, rec):
    "Record every CoreApi call's arguments, answer or error, and every JSON answer the client deserialises."
    for name, method in list(vars(ubiops.CoreApi).items()):
        if name.startswith("_") or not callable(method):
            continue

        def recorded(self, *args, _method=method, _name=name, **kwargs):
            rec.args[_name].append(args)
            try:
                answer = _method(self, *args, **kwargs)
            except Exception as e:
                rec.errors[_name].append(e)
                raise
            rec.answers[_name].append(answer)
            return answer

        mp.setattr(ubiops.CoreApi, name, recorded)
    deserialize = ubiops.ApiClient.deserialize

    def recording_deserialize(self, response, response_type, *args, **kwargs):
        if response_type not in (None, "file") and response.text:
            rec.json[response_type].append(json.loads(response.text))
        return deserialize(self, response, response_type, *args, **kwargs)

    mp.setattr(ubiops.ApiClient, "deserialize", recording_deserialize)


def _broken_build(zip_path, tmp, pictures):
    broken = variant(zip_path, tmp / "broken.zip", {"deployment.py": (
        "class Deployment:\n    def __init__(self, base_directory, context):\n        raise RuntimeError('corrupt')\n")})
    with pytest.raises(DeployError, match="The build of face-portrait version v2 failed"):
        run(broken, new_version=True)


def _versions(zip_path, tmp, pictures):
    run(zip_path, new_version=True)  # v3
    versions = Versions(Target.connect(), D)
    versions.promote("v3")
    versions.rollback()
    versions.list()


def run(package, config=CONFIG, **kw):
    return deploy(config=config, package=package, progress=False, timeout=60, update_wait=0, **kw)


def _failed_tag(zip_path, tmp, pictures):
    "The tag's pins can't be had here: the rebuild fails again, and says so."
    with pytest.raises(DeployError, match="(?s)tag v1 is failed: .*the next `make deploy` rebuilds it"):
        run(zip_path, config(tmp, deployment_name="rebuild-me"))


SCENARIOS = {  # name -> what it runs
    "first deploy": lambda z, tmp, pics: run(z),
    "overwrite changing an instance setting": lambda z, tmp, pics: run(z, config(tmp, maximum_idle_time=600),
                                                                       overwrite=True),
    "a build that fails": _broken_build,
    "versions list, promote, rollback": _versions,
    "predict direct": lambda z, tmp, pics: (predict(Target.connect(), D, pics["astronaut"]),
                                            predict(Target.connect(), D, pics["coffee"], version="v1")),
    "predict batch": lambda z, tmp, pics: predict(Target.connect(), D, pics["coffee"], batch=True),
    "predict batch, one version": lambda z, tmp, pics: predict(Target.connect(), D, pics["coffee"], "v1", batch=True),
    "a failed environment tag": _failed_tag,
}


def environment_package_text(zip_path) -> str:
    return environment_files(environment_zip(zip_path))["requirements.txt"]


def client_api(host: str, token: str) -> ubiops.CoreApi:
    return ubiops.CoreApi(ubiops.ApiClient(ubiops.Configuration(host=host, api_key={"Authorization": token})))


class Recorded(SimpleNamespace):
    """What the scenarios called and got. Its repr stays short: pytest shows it in tracebacks, and the answers' own
    reprs would read every field, deprecated ones included."""

    def __repr__(self):
        return f"<{sum(map(len, self.args.values()))} recorded calls>"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    "A local server, empty but for a token: as `make serve SERVE_FLAGS=\"--package ''\"` starts one."
    data = tmp_path_factory.mktemp("contract-serve")
    _, token = Tokens(Store(data / "state.sqlite")).create("contract")
    with running_server(ServeSettings(data_dir=data, workers=1, shutdown_grace=2)) as url:
        yield SimpleNamespace(host=f"{url}/v2", token=token)


@pytest.fixture(scope="module")
def contract(served, built_zip, pictures, tmp_path_factory):
    "Every scenario run once against the server, recorded, with DeprecationWarning as an error."
    rec = Recorded(args=defaultdict(list), answers=defaultdict(list), errors=defaultdict(list),
                   json=defaultdict(list), failures={})
    failed_environment(client_api(served.host, served.token), "rebuild-me", environment_package_text(built_zip),
                       tmp_path_factory.mktemp("failed-tag"))  # set up before recording: not a call mod makes
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UBIOPS_PROJECT", "local")
        mp.setenv("UBIOPS_API_HOST", served.host)
        mp.setenv("UBIOPS_API_TOKEN", served.token)
        _record(mp, rec)
        for name, scenario in SCENARIOS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                try:
                    scenario(built_zip, tmp_path_factory.mktemp("scenario"), pictures)
                except Exception as e:  # DeprecationWarning included: it is an Exception
                    rec.failures[name] = e
    return rec


def test_the_calls_are_found_in_mods_source():
    assert {"deployment_versions_create", "environment_tags_build", "instance_type_groups_list", "environments_get",
            "deployment_requests_output_get", "deployments_update"} <= set(CALLS)
    assert all(response_type(c) for c in CALLS)  # each is declared in the installed client's ubiops.api


def test_the_scenarios_drive_exactly_the_calls_the_contract_lists(contract):
    assert set(contract.args) == set(CALLS)


def test_no_deprecation_warning_is_raised_on_the_way(contract):
    assert not {n: e for n, e in contract.failures.items() if isinstance(e, Warning)}


def test_every_scenario_succeeds(contract):
    assert {n: repr(e) for n, e in contract.failures.items()} == {}


def _check_model(answer, kind: str):
    if kind == "file":  # `_preload_content=False`: the raw response, with read()
        assert callable(getattr(answer, "read", None)), answer
    elif kind.startswith("list["):
        assert isinstance(answer, list) and all(isinstance(a, _model(kind[5:-1])) for a in answer), answer
    elif _model(kind) is not None:
        assert isinstance(answer, _model(kind)), answer


@pytest.mark.parametrize("call", CALLS)
def test_each_call_mod_makes_answers_in_the_clients_model(contract, call):
    errors = [e for e in contract.errors[call]
              if not (call in LOOKUPS and isinstance(e, ubiops.ApiException) and e.status == 404)]
    assert not errors, f"{call}: {errors[0]}"
    assert contract.answers[call], f"no scenario got an answer from {call}; failures: {contract.failures}"
    for answer in contract.answers[call]:
        _check_model(answer, response_type(call))


def _unknown(value, kind: str) -> set:
    if kind.startswith("list["):
        return set().union(*(_unknown(v, kind[5:-1]) for v in value))
    model = _model(kind)
    return set(value) - set(model.attribute_map.values()) if model and isinstance(value, dict) else set()


@pytest.mark.parametrize("kind", sorted({response_type(c) for c in CALLS} - {"file", "None", "object"}))
def test_answers_hold_only_fields_the_client_knows(contract, kind):
    assert contract.json[kind], f"no answer of type {kind} was recorded"
    assert set().union(*(_unknown(v, kind) for v in contract.json[kind])) == set()


@pytest.mark.parametrize("path, kind", [("/projects", "ProjectList"), ("/projects/local/deployments", "DeploymentList"),
                                        ("/projects/local/environments", "EnvironmentList")])
def test_lists_mod_does_not_read_hold_only_their_models_fields_too(served, contract, path, kind):
    answer = httpx.get(f"{served.host}{path}", headers={"Authorization": f"Token {served.token}"}).json()
    assert answer and _unknown(answer, f"list[{kind}]") == set()


def test_what_mod_sends_names_the_explicit_environment_and_no_deprecated_field(contract):
    versions = [a[-1] for c in ("deployment_versions_create", "deployment_versions_update") for a in contract.args[c]]
    assert versions and all({"environment_name", "environment_tag"} <= set(v) for v in versions)
    assert not [v for v in versions if {"environment", "instance_type", "ports"} & set(v)]  # deprecated or legacy
    assert all(a[-1]["supports_request_format"] is True for a in contract.args["deployments_create"])
    assert all(a[-1]["supports_request_format"] is True for a in contract.args["environment_tags_create"])


# 2. The local server refuses what UbiOps refuses, and does what UbiOps does

@pytest.fixture(scope="module")
def api(served, contract):
    "The official client on the contract's server, after the scenarios (face-portrait v1 is available there)."
    return client_api(served.host, served.token)


def _refused(call, *args, **kwargs) -> str:
    with pytest.raises(ubiops.ApiException) as e:
        call(*args, **kwargs)
    assert e.value.status == 400, e.value
    return e.value.get_body_message()


def test_a_revision_zip_without_a_top_folder_is_refused(api, tmp_path):
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as z:
        z.writestr("deployment.py", "class Deployment:\n    pass\n")
    assert "must contain a directory" in _refused(api.revisions_file_upload, "local", D, "v1", file=str(flat))


@pytest.mark.parametrize("field, value", [("request_retention_time", 2_419_201), ("maximum_idle_time", 5)])
def test_version_settings_ubiops_refuses_are_refused(api, field, value):
    assert f"{field} is {value}" in _refused(api.deployment_versions_create, "local", D, {"version": "bad", field: value})


def test_a_version_may_scale_to_zero_instances(api):
    v = api.deployment_versions_create("local", D, {"version": "zero", "minimum_instances": 0, "maximum_instances": 0})
    assert v.maximum_instances == 0
    api.deployment_versions_delete("local", D, "zero")


def test_version_labels_that_break_the_label_filter_are_refused(api):
    assert "label value 'a:b'" in _refused(api.deployment_versions_create, "local", D,
                                            {"version": "lbl", "labels": {"team": "a:b"}})


def test_deployment_labels_that_break_the_label_filter_are_refused(api):
    assert "label" in _refused(api.deployments_update, "local", D, {"labels": {"team": "a,b"}})
    spec = {**json.loads((PORTRAIT / "input_spec.json").read_text()), **json.loads((PORTRAIT / "output_spec.json").read_text())}
    assert "labels: label key 'team:x' is not allowed" in _refused(api.deployments_create, "local",
                                                                    {"name": "labelled", **spec, "labels": {"team:x": "a"}})


def test_a_version_with_an_unknown_instance_type_group_is_refused(api):
    assert "2048 MB + 1 vCPU" in _refused(api.deployment_versions_create, "local", D,
                                          {"version": "itg", "instance_type_group_name": "2048 MB + 1 vCPU"})
    assert "instance_type_group_id 'nope' is not an instance type group" in _refused(
        api.deployment_versions_update, "local", D, "v1", {"instance_type_group_id": "nope"})


def test_a_version_may_name_its_instance_type_group_by_id(api):
    group = api.instance_type_groups_list("local").results[0]
    v = api.deployment_versions_create("local", D, {"version": "by-id", "instance_type_group_id": group.id})
    assert v.instance_type_group_name == group.name
    api.deployment_versions_delete("local", D, "by-id")


def test_a_failed_tag_is_rebuilt_and_reads_queued_then_building_then_its_outcome(api, built_zip, tmp_path):
    name = failed_environment(api, "rebuild-again", environment_package_text(built_zip), tmp_path)
    assert api.environment_tags_rebuild("local", name, "v1").success is True
    statuses = [api.environment_tags_get("local", name, "v1").status for _ in range(3)]
    assert statuses == ["queued", "building", "failed"]  # its pins are still not to be had here


def test_a_tag_that_was_never_built_is_not_rebuilt(api):
    api.environments_create("local", {"name": "never-built"})
    api.environment_tags_create("local", "never-built", {"name": "v1"})
    assert "tag 'v1' is pending: only a tag that has been built" in _refused(api.environment_tags_rebuild, "local",
                                                                              "never-built", "v1")


def test_environment_files_in_a_revision_are_refused_or_make_an_implicit_environment(api, built_zip, tmp_path):
    v1 = api.deployment_versions_get("local", D, "v1")
    api.deployment_versions_create("local", D, {"version": "implicit", "environment_name": v1.environment_name,
                                                "environment_tag": v1.environment_tag})
    implicit = variant(built_zip, tmp_path / "implicit.zip", {"requirements.txt": environment_package_text(built_zip)})
    try:
        api.revisions_file_upload("local", D, "implicit", file=str(implicit))
    except ubiops.ApiException as e:
        assert e.status == 400 and "requirements.txt" in e.get_body_message()
        return
    v = api.deployment_versions_get("local", D, "implicit")
    tags = api.environment_tags_list("local", v.environment_name)
    assert v.environment_name != v1.environment_name and any(t.implicit for t in tags)


def test_a_base_environment_named_as_ubiops_names_them_is_accepted(api, built_zip, tmp_path):
    api.environments_create("local", {"name": "ubuntu-named-base"})
    api.environment_tags_create("local", "ubuntu-named-base", {"name": "v1"})
    env = environment_package(tmp_path, environment_package_text(built_zip))
    api.environment_tags_build("local", "ubuntu-named-base", "v1", file=str(env),
                               base_environment_name="ubiops-ubuntu22-04-python3-11", base_environment_tag="v1")
    assert api.environment_tags_get("local", "ubuntu-named-base", "v1").status in ("available", "success")


def test_the_first_version_is_the_default_from_creation(api):
    spec = {**json.loads((PORTRAIT / "input_spec.json").read_text()), **json.loads((PORTRAIT / "output_spec.json").read_text())}
    api.deployments_create("local", {"name": "first-default", **spec})
    api.deployment_versions_create("local", "first-default", {"version": "v1"})
    assert api.deployments_get("local", "first-default").default_version == "v1"
    assert api.deployment_versions_get("local", "first-default", "v1").default is True


# The request context, seen from inside a deployment

ECHO = '''import json, time


class Deployment:
    def __init__(self, base_directory, context):
        self.process_id = context.get("process_id")

    def request(self, data, context):
        time.sleep(float(data))
        return json.dumps({"process_id": self.process_id, "request_mode": context.get("request_mode")})
'''


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    "A server running, on two instances, a deployment that answers with its process_id and request_mode."
    folder = tmp_path_factory.mktemp("echo")
    (folder / "pkg").mkdir()
    (folder / "pkg" / "deployment.py").write_text(ECHO)
    (folder / "pkg" / "input_spec.json").write_text('{"input_type": "plain"}')
    (folder / "pkg" / "output_spec.json").write_text('{"output_type": "plain"}')
    token = prepare(folder / "data", zip_folder(folder / "pkg", folder / "echo.zip"), "echo")
    with running_server(ServeSettings(data_dir=folder / "data", workers=2, shutdown_grace=2)) as url:
        yield SimpleNamespace(url=f"{url}/v2/projects/local/deployments/echo",
                              headers={"Authorization": f"Token {token}", "Content-Type": "text/plain"})


def _direct(echo, seconds: float = 0) -> dict:
    r = httpx.post(f"{echo.url}/requests", content=str(seconds), headers=echo.headers, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    return json.loads(r.json()["result"])


def test_a_direct_request_runs_in_express_mode(echo):
    assert _direct(echo)["request_mode"] == "express"


def test_a_batch_request_runs_in_batch_mode(echo):
    created = httpx.post(f"{echo.url}/requests/batch", json=["0"], headers={**echo.headers,
                                                                          "Content-Type": "application/json"}).json()
    deadline = time.monotonic() + 30
    while (got := httpx.get(f"{echo.url}/requests/{created[0]['id']}", headers=echo.headers).json())["status"] in (
            "pending", "processing"):
        assert time.monotonic() < deadline, got
        time.sleep(0.05)  # a poll interval, not a wait for something to happen
    assert json.loads(got["result"])["request_mode"] == "batch"


def test_process_id_numbers_the_processes_within_one_instance(echo):
    with ThreadPoolExecutor(4) as pool:  # two at a time keep both instances busy
        seen = {r["process_id"] for r in pool.map(lambda _: _direct(echo, 0.3), range(4))}
    assert seen == {0}  # instance_processes 1: every instance's one process is process 0


def test_a_batch_timeout_of_72_hours_is_accepted(echo):
    r = httpx.post(f"{echo.url}/requests/batch?timeout=259200", json=["0"],
                   headers={**echo.headers, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


def test_a_batch_timeout_above_72_hours_is_refused(echo):
    r = httpx.post(f"{echo.url}/requests/batch?timeout=259201", json=["0"],
                   headers={**echo.headers, "Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (400, "timeout is 259201; allowed: 10 to 259200 seconds.")


# Routes of UbiOps' request workflow that mod does not call, but client code does

@pytest.fixture(scope="module")
def request_id(echo, echo_api) -> str:
    r = httpx.post(f"{echo.url}/requests", content="0", headers=echo.headers, timeout=30)
    stored(echo_api, "echo", r.json()["id"])  # the server stores a direct request once its answer has gone
    return r.json()["id"]


@pytest.fixture(scope="module")
def echo_api(echo):
    return client_api(echo.url.split("/projects/")[0], echo.headers["Authorization"])


@pytest.mark.parametrize("version", [None, "v1"])
def test_requests_list(echo_api, request_id, version):
    listed = (echo_api.deployment_version_requests_list("local", "echo", "v1") if version
              else echo_api.deployment_requests_list("local", "echo"))
    assert request_id in [r.id for r in listed] and all(isinstance(r, ubiops.models.DeploymentRequestList) for r in listed)


@pytest.mark.parametrize("which, version", [("input", None), ("input", "v1"), ("output", None), ("output", "v1")])
def test_request_input_and_output(echo_api, request_id, which, version):
    where = {"project_name": "local", "deployment_name": "echo", "request_id": request_id}
    call = getattr(echo_api, f"deployment_version_requests_{which}_get" if version else f"deployment_requests_{which}_get")
    body = call(**where, **({"version": version} if version else {})).read().decode()
    if which == "input":
        assert body == "0"
    else:
        assert json.loads(json.loads(body))["request_mode"] == "express"  # the plain output, a JSON string


def test_revision_rebuild(echo_api):
    revision = echo_api.deployment_versions_get("local", "echo", "v1").active_revision
    rebuilt = echo_api.revisions_rebuild("local", "echo", revision, "v1", {})  # the 4.15 client: a RevisionList
    assert (rebuilt.id, rebuilt.status) == (revision, "success")
    assert echo_api.deployment_versions_get("local", "echo", "v1").status == "available"


def test_process_id_numbers_each_instances_processes_from_zero(echo, echo_api):
    "With instance_processes 2, the server's two workers make one instance of two processes: ids 0 and 1."
    echo_api.deployment_versions_update("local", "echo", "v1", {"instance_processes": 2})
    revision = echo_api.deployment_versions_get("local", "echo", "v1").active_revision
    assert echo_api.revisions_rebuild("local", "echo", revision, "v1", {}).status == "success"
    with ThreadPoolExecutor(4) as pool:  # two at a time keep both processes busy
        seen = {r["process_id"] for r in pool.map(lambda _: _direct(echo, 0.3), range(4))}
    assert seen == {0, 1}
