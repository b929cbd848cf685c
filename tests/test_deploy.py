"""`mod deploy`, `mod versions` and `mod predict` end to end: the official ubiops client against a local server
started here (uvicorn on 127.0.0.1, a free port), with the real package built from this checkout."""
import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import ubiops

from mod.server.auth import Tokens
from mod.cli import main
from mod.cloud.deploy import deploy, next_version
from mod.build.rules import ENVIRONMENT_FILES, environment_zip
from mod.cloud.config import DeployError, Target, environment_name
from mod.server.app import ServeSettings
from mod.server.store import Store
from mod.cloud.versions import Versions, predict
from mod.build.golden import GoldenError
from prcvd.errors import InputError
from conftest import PORTRAIT
from deploy_support import CONFIG, config, environment_package, failed_environment, variant
from server_fixture import running_server


@pytest.fixture(scope="module")
def package(built_zip) -> Path:
    return built_zip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "A local server with one live token: its API host, token and data folder."
    data = tmp_path_factory.mktemp("serve-data")
    _, token = Tokens(Store(data / "state.sqlite")).create("test")
    with running_server(ServeSettings(data_dir=data, workers=1, shutdown_grace=2)) as url:
        yield SimpleNamespace(host=f"{url}/v2", token=token, data=data)


@pytest.fixture
def env(server, monkeypatch):
    "The environment a user sets: project, host and token."
    monkeypatch.setenv("UBIOPS_PROJECT", "local")
    monkeypatch.setenv("UBIOPS_API_HOST", server.host)
    monkeypatch.setenv("UBIOPS_API_TOKEN", server.token)
    return server.host


def run(package, config=CONFIG, **kw):
    return deploy(config=config, package=package, progress=False, timeout=60, **kw)


def state(host) -> dict:
    "Everything a deploy may change, as the official client reads it."
    t = Target.connect("local", host)
    deployments = t.api.deployments_list("local")
    return {"deployments": [d.to_dict() for d in deployments],
            "versions": [v.to_dict() for d in deployments for v in t.api.deployment_versions_list("local", d.name)],
            "environments": [e.to_dict() for e in t.api.environments_list("local")]}


@pytest.fixture(scope="module")
def first(server, package):
    "The first deploy: creates deployment, environment and v1, builds, smokes."
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UBIOPS_API_TOKEN", server.token)
        return run(package, project="local", host=server.host)


def later_version() -> str:
    "What `--new-version` names the next version, whatever versions the tests before this one created."
    api = Target.connect().api
    return next_version("v1", [v.version for v in api.deployment_versions_list("local", "face-portrait")])


def test_first_deploy_creates_everything_and_answers(first, env, capsys):
    assert first.version == "v1" and first.result["face_found"] is True
    assert set(first.times) == {"check", "setup", "upload", "build", "smoke"}
    api = Target.connect().api
    v = api.deployment_versions_get("local", "face-portrait", "v1")
    assert (v.status, v.default) == ("available", True)  # (an --overwrite test may have replaced its revision since)
    assert api.revisions_get("local", "face-portrait", first.revision, "v1").status == "success"
    assert v.labels["model-sha256"] == first.pkg.manifest["sha256"][:12] and "accuracy" in v.labels
    assert v.environment_name == first.env and first.env.startswith("face-portrait-env-")


def test_the_version_runs_on_the_explicit_environment_and_nothing_implicit_was_built(first, env, tmp_path):
    api = Target.connect().api
    v = api.deployment_versions_get("local", "face-portrait", "v1")
    pins = first.pkg.requirements
    assert (v.environment_name, v.environment_tag) == (environment_name("face-portrait", "python3-11", "v1", pins), "v1")
    tags = api.environment_tags_list("local", v.environment_name)
    assert [(t.name, t.status, t.implicit, t.base_environment_name) for t in tags] == [
        ("v1", "success", False, "python3-11")]
    ours = [e.name for e in api.environments_list("local") if not e.system]
    assert v.environment_name in ours  # and none that UbiOps would have generated from a package:
    assert not [(e, t.name) for e in ours for t in api.environment_tags_list("local", e) if t.implicit]
    api.api_client.configuration.temp_folder_path = str(tmp_path)
    got = api.revisions_file_download("local", "face-portrait", v.active_revision, "v1", _preload_content=True)
    with zipfile.ZipFile(got) as z:
        assert not [n for n in z.namelist() if n.rsplit("/", 1)[-1] in ENVIRONMENT_FILES]


def test_curl_line_names_the_token_variable_never_its_value(first, env):
    line = first.curl()
    assert '"Authorization: Token $UBIOPS_API_TOKEN"' in line and env in line
    assert first.target.client.configuration.api_key["Authorization"] not in line


def test_second_deploy_is_refused_without_overwrite(first, env, package):
    with pytest.raises(DeployError, match=r"Version 'v1' of 'face-portrait' exists \(available, model \w{12}\).*"
                                          rf"--overwrite to replace it, or --new-version to deploy as {later_version()}"):
        run(package)


def test_overwrite_replaces_the_revision_and_reuses_the_environment(first, env, package, capsys):
    d = run(package, overwrite=True)
    out = capsys.readouterr().out
    assert f"reuse environment {first.env} (base and pins unchanged" in out and "update version v1 (--overwrite" in out
    assert "for UbiOps to apply" not in out  # no instance setting changed: nothing to wait for
    v = Target.connect().api.deployment_versions_get("local", "face-portrait", "v1")
    assert (v.status, v.active_revision) == ("available", d.revision) and d.revision != first.revision


def test_overwrite_that_changes_instance_settings_waits_before_the_upload(first, env, package, tmp_path, capsys):
    api = Target.connect().api
    d = run(package, config(tmp_path, maximum_idle_time=600), overwrite=True, update_wait=0)
    out = capsys.readouterr().out
    assert "wait 0 s for UbiOps to apply the new maximum_idle_time before the upload, as ubiops-cli 2.32 does" in out
    assert out.index("for UbiOps to apply") < out.index("upload deployment_package.zip")
    v = api.deployment_versions_get("local", "face-portrait", "v1")
    assert (v.maximum_idle_time, v.active_revision) == (600, d.revision)
    run(package, overwrite=True, update_wait=0)  # back to deploy.yaml's settings, for the tests after this one
    assert "apply the new maximum_idle_time" in capsys.readouterr().out
    assert api.deployment_versions_get("local", "face-portrait", "v1").maximum_idle_time == 300


def test_dry_run_changes_nothing(first, env, package, capsys):
    before = state(env)
    d = run(package, new_version=True, dry_run=True)
    out = capsys.readouterr().out
    assert f"create version {later_version()}" in out and "Dry run: nothing was changed." in out and d.revision is None
    assert main(["deploy", "--config", str(CONFIG), "--package", str(package), "--new-version", "--dry-run"]) == 0
    assert state(env) == before


def test_changed_spec_stops_with_a_diff(first, env, package, tmp_path):
    spec = json.loads((PORTRAIT / "output_spec.json").read_text())
    spec["output_fields"].append({"name": "age", "data_type": "int"})
    changed = variant(package, tmp_path / "changed.zip", {"output_spec.json": json.dumps(spec)})
    before = state(env)
    with pytest.raises(DeployError) as e:
        run(changed, new_version=True)
    assert "exists with other input/output fields than the package" in str(e.value)
    assert "output:\n  + age: int" in str(e.value)
    assert state(env) == before


def test_new_version_then_promote_and_rollback(first, env, package, capsys):
    new = later_version()
    d = run(package, new_version=True)
    assert d.version == new and "The default version stays v1" in capsys.readouterr().out
    versions = Versions(Target.connect(), "face-portrait")
    assert versions.promote(new) == f"Default version of face-portrait: v1 -> {new}"
    api = Target.connect().api
    assert api.deployments_get("local", "face-portrait").default_version == new
    row = next(line for line in versions.list().splitlines() if line.startswith(f"{new} "))
    assert "*" in row
    assert versions.rollback() == f"Default version of face-portrait: {new} -> v1"
    assert api.deployments_get("local", "face-portrait").default_version == "v1"
    with pytest.raises(DeployError, match="No earlier default version"):
        versions.rollback()
    names = ", ".join(sorted(v.version for v in api.deployment_versions_list("local", "face-portrait")))
    with pytest.raises(DeployError, match=f"has no version 'v99'; it has: {names}"):
        versions.promote("v99")


def test_failing_init_gives_a_clear_build_error(first, env, package, tmp_path):
    broken = variant(package, tmp_path / "broken.zip", {"deployment.py": (
        "class Deployment:\n    def __init__(self, base_directory, context):\n"
        "        raise RuntimeError('model1.pkl is corrupt')\n")})
    with pytest.raises(DeployError) as e:
        run(broken, new_version=True)
    assert "The build of face-portrait version" in str(e.value) and "model1.pkl is corrupt" in str(e.value)
    versions = Versions(Target.connect(), "face-portrait")
    failed = re.search(r"version (\S+) failed", str(e.value))[1]
    with pytest.raises(DeployError, match=f"Version '{failed}' is unavailable; only an available version"):
        versions.promote(failed)


def test_zip_escaping_its_folder_is_refused_before_and_by_the_server(first, server, env, package, tmp_path):
    evil = variant(package, tmp_path / "evil.zip", {"../evil.py": "print('escaped')"})
    with pytest.raises(InputError, match="points outside the package"):
        run(evil, overwrite=True)
    api = Target.connect().api
    with pytest.raises(ubiops.ApiException) as e:  # a client that skips mod deploy's own check
        api.revisions_file_upload("local", "face-portrait", "v1", file=str(evil))
    assert e.value.status == 400 and "points outside the package" in e.value.get_body_message()
    assert not list(server.data.rglob("evil.py"))


# What deploy.yaml, the zips or the project would make UbiOps refuse stops the deploy before any change

@pytest.mark.parametrize("changes, message", [
    ({"environment": "python3-11", "base_environment_name": None}, "write `base_environment_name: python3-11`"),
    ({"request_retention_time": 2_419_201}, "request_retention_time is 2419201; allowed: an integer from 0 to 2419200"),
    ({"deployment_supports_request_format": False}, "deployment_supports_request_format is False; mod deploy deploys"),
    ({"deployment_labels": {"team": "vision,faces"}}, "label value 'vision,faces' is not allowed"),
    ({"environment_tag": "v1"}, "environment_name and environment_tag go together"),
])
def test_deploy_yaml_that_ubiops_would_refuse_stops_before_any_call(env, package, tmp_path, changes, message):
    before = state(env)
    with pytest.raises(InputError, match=re.escape(message)):
        run(package, config(tmp_path, **changes), new_version=True)
    assert state(env) == before


@pytest.mark.parametrize("changes, message", [
    ({"instance_type_group_name": "2048 MB + 1 vCPU"}, "Instance type group '2048 MB + 1 vCPU' (instance_type_group_name "
     "in deploy.yaml) is not one project 'local' has; it has: '512 MB + 0.125 vCPU', '1024 MB + 0.25 vCPU'"),
    ({"base_environment_name": "python3-9"}, "Base environment 'python3-9' (base_environment_name in deploy.yaml) is not "
     "one project 'local' offers; it offers: python3-10, python3-11"),
    ({"base_environment_tag": "v7"}, "Base environment 'python3-11' has no built tag 'v7' (base_environment_tag in "
     "deploy.yaml); its tags: v1 (success)"),
    ({"base_environment_name": None, "environment_name": "mine", "environment_tag": "v1"},
     "Environment 'mine' tag 'v1' (environment_name, environment_tag in deploy.yaml) does not exist in project 'local'"),
])
def test_what_the_project_does_not_offer_stops_the_plan_before_any_change(first, env, package, tmp_path, changes,
                                                                          message):
    before = state(env)
    with pytest.raises(DeployError, match=re.escape(message)):
        run(package, config(tmp_path, **changes), new_version=True)
    assert state(env) == before


def test_a_zip_with_an_environment_file_is_refused_before_any_call(env, package, tmp_path):
    implicit = variant(package, tmp_path / "implicit.zip", {"requirements.txt": "numpy==2.4.6\n"})
    before = state(env)
    with pytest.raises(InputError, match="implicit.zip holds requirements.txt next to deployment.py: UbiOps would "
                                         "build an implicit environment from it"):
        run(implicit, new_version=True)
    assert state(env) == before


def test_an_environment_package_of_another_build_is_refused(env, package, tmp_path):
    pins = environment_zip(package).read_bytes()
    stale = environment_package(tmp_path, "numpy==2.4.5\n")
    with pytest.raises(InputError, match="environment.zip pins numpy==2.4.5, but model1.json in "
                                         "deployment_package.zip was trained with numpy=="):
        run(package, environment=stale, dry_run=True)
    assert environment_zip(package).read_bytes() == pins


def test_an_environment_of_your_own_is_used_as_is(first, env, package, tmp_path, capsys):
    cfg = config(tmp_path, base_environment_name=None, environment_name=first.env, environment_tag="v1")
    run(package, cfg, new_version=True, dry_run=True)
    assert f"use environment {first.env} tag v1 as is (environment_name in deploy.yaml)" in capsys.readouterr().out


# A failed environment tag: the same pins always land on it, so it is rebuilt

@pytest.fixture(scope="module")
def rebuild_me(first, server, tmp_path_factory) -> str:
    "The environment `mod deploy` would build for deployment rebuild-me, with its tag v1 failed."
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UBIOPS_API_TOKEN", server.token)
        api = Target.connect("local", server.host).api
    return failed_environment(api, "rebuild-me", first.pkg.requirements, tmp_path_factory.mktemp("bad-env"))


def test_a_failed_environment_tag_is_planned_for_a_rebuild(rebuild_me, env, package, tmp_path, capsys):
    run(package, config(tmp_path, deployment_name="rebuild-me"), dry_run=True)
    assert (f"rebuild environment {rebuild_me} tag v1: its last build is failed (This local server runs Python"
            in capsys.readouterr().out)


def test_a_rebuilt_tag_that_fails_again_shows_its_error(rebuild_me, env, package, tmp_path):
    with pytest.raises(DeployError, match=f"(?s)Environment '{rebuild_me}' tag v1 is failed: .*numpy==0.0.1.*"
                                          "the next `make deploy` rebuilds it"):
        run(package, config(tmp_path, deployment_name="rebuild-me"))


def test_wrong_token_is_refused_with_a_message(first, env, package, monkeypatch):
    monkeypatch.setenv("UBIOPS_API_TOKEN", "not-a-token")
    with pytest.raises(DeployError, match="refused the token in UBIOPS_API_TOKEN \\(401: Invalid token"):
        run(package, new_version=True)


def test_missing_token_stops_before_any_call(env, package, monkeypatch):
    monkeypatch.delenv("UBIOPS_API_TOKEN")
    with pytest.raises(InputError, match="UBIOPS_API_TOKEN is not set"):
        run(package, dry_run=True)


def test_cli_deploy_prints_the_error_not_a_traceback(first, env, package, capsys):
    assert main(["deploy", "--config", str(CONFIG), "--package", str(package)]) == 1
    assert "mod deploy: Version 'v1' of 'face-portrait' exists" in capsys.readouterr().err


def test_predict_direct(first, env, pictures):
    target = Target.connect()
    assert predict(target, "face-portrait", pictures["astronaut"])["face_found"] is True
    assert predict(target, "face-portrait", pictures["coffee"], version="v1", timeout=60)["face_found"] is False


@pytest.mark.parametrize("version", [None, "v1"])
def test_predict_batch_reads_the_answer_from_the_output_endpoint(first, env, pictures, version):
    answer = predict(Target.connect(), "face-portrait", pictures["coffee"], version=version, batch=True, timeout=60)
    assert answer["face_found"] is False


@pytest.mark.parametrize("batch, timeout, allowed", [(False, 3601, "10 to 3600 s"), (True, 259_201, "10 to 259200 s"),
                                                     (True, 5, "10 to 259200 s")])
def test_predict_refuses_a_timeout_ubiops_refuses_before_sending(first, env, pictures, batch, timeout, allowed):
    before = state(env)
    with pytest.raises(InputError, match=f"timeout is {timeout} s; allowed: {allowed}"):
        predict(Target.connect(), "face-portrait", pictures["coffee"], batch=batch, timeout=timeout)
    assert state(env) == before


def test_predict_cli_prints_the_answer(first, env, pictures, capsys):
    assert main(["predict", str(pictures["astronaut"]), "--config", str(CONFIG)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["label"] == "face"


def test_empty_upload_rebuilds_the_latest_zip_and_download_returns_it(first, env, package, tmp_path):
    api = Target.connect().api
    rid = api.revisions_file_upload("local", "face-portrait", "v1").revision  # the client's `file=None`: no fields
    assert api.revisions_get("local", "face-portrait", revision_id=rid, version="v1").status == "success"
    api.api_client.configuration.temp_folder_path = str(tmp_path)
    got = api.revisions_file_download("local", "face-portrait", rid, "v1", _preload_content=True)
    assert Path(got).read_bytes() == package.read_bytes()


def _answering_otherwise(package: Path, out: Path) -> tuple[Path, str]:
    "A copy of the zip whose first golden example recorded another label; the difference's line."
    with zipfile.ZipFile(package) as z:
        manifest = json.loads(z.read("deployment_package/model1.json"))
    example = manifest["examples"][0]
    recorded = example["answer"]["label"]
    example["answer"]["label"] = "recorded-otherwise"  # as if the model had answered this when it was saved
    changed = variant(package, out, {"model1.json": json.dumps(manifest)})
    return changed, f"example '{example['name']}': answer.label: recorded 'recorded-otherwise', got '{recorded}'"


def test_a_version_that_answers_its_golden_examples_differently_fails_the_deploy_with_the_difference(
        first, env, package, tmp_path, monkeypatch):
    from mod.server.lifecycle import Versions as ServerVersions

    async def no_replay(self, key, pool):  # UbiOps' build does not replay golden examples: the deploy's check must
        pass
    monkeypatch.setattr(ServerVersions, "_replay", no_replay)
    changed, difference = _answering_otherwise(package, tmp_path / "changed.zip")
    with pytest.raises(GoldenError, match=re.escape(difference)):
        run(changed, new_version=True)


def test_the_local_servers_build_already_fails_on_a_golden_example_answered_differently(first, env, package, tmp_path):
    changed, difference = _answering_otherwise(package, tmp_path / "changed.zip")
    with pytest.raises(DeployError, match=r"The build of face-portrait version v\d+ failed .*\n.*answered 1 thing\(s\) "
                                          rf"differently .*\n  {re.escape(difference)}"):
        run(changed, new_version=True)
