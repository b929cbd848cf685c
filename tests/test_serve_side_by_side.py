"""Several deployments served side by side by one server, each chosen by its name in the path."""
import pytest
import ubiops

from serve_support import FIXTURES, api, prepare, settings, zip_folder
from server_fixture import running_server


@pytest.fixture(scope="module")
def core(built_zip, tmp_path_factory):
    "face-portrait and the plain-text `faults` fixture registered in one data folder, served by one server."
    data = tmp_path_factory.mktemp("side-data")
    prepare(data, zip_folder(FIXTURES / "faults", data.parent / "faults.zip"), "faults")
    token = prepare(data, built_zip, "face-portrait")
    with running_server(settings(data)) as url:
        yield api(url, token)


def test_both_deployments_are_listed(core):
    assert sorted(d.name for d in core[1].deployments_list("local")) == ["face-portrait", "faults"]


def test_each_name_reaches_its_own_deployment(core, pictures):
    client, api_ = core
    uri = ubiops.utils.upload_file(client, "local", str(pictures["astronaut"]), _progress_bar=False)
    face = api_.deployment_requests_create("local", "face-portrait", {"portrait": uri})
    plain = api_.deployment_requests_create("local", "faults", "hello")
    assert face.status == "completed" and face.result["face_found"] is True
    assert plain.status == "completed" and plain.result.endswith(":hello")


def test_a_crash_in_one_deployment_leaves_the_other_serving(core, pictures):
    client, api_ = core
    crashed = api_.deployment_requests_create("local", "faults", "exit")
    assert crashed.status == "failed" and "crashed" in crashed.error_message
    uri = ubiops.utils.upload_file(client, "local", str(pictures["coffee"]), _progress_bar=False)
    assert api_.deployment_requests_create("local", "face-portrait", {"portrait": uri}).result["face_found"] is False
