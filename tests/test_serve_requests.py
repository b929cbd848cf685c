"""Direct and batch requests on the face-portrait package, through the official `ubiops` client."""
import json
import struct
import zlib
from datetime import datetime, timezone

import httpx
import pytest
import ubiops

from serve_support import api, prepare, settings, stored, wait_done
from server_fixture import running_server

D = "face-portrait"


@pytest.fixture(scope="session")
def server(built_zip, tmp_path_factory):
    "The built face-portrait zip served by a real server; yields (url, token)."
    data = tmp_path_factory.mktemp("serve-data")
    token = prepare(data, built_zip, D)
    with running_server(settings(data)) as url:
        yield url, token


@pytest.fixture(scope="session")
def core(server):
    return api(*server)


def upload(core, path, name=None) -> str:
    client, _ = core
    return ubiops.utils.upload_file(client, "local", str(path), file_name=name, _progress_bar=False)


def test_direct_request_matches_the_deployment_in_process(core, fixture_deployment, pictures):
    uri = upload(core, pictures["astronaut"])
    r = core[1].deployment_requests_create("local", D, {"portrait": uri})
    assert (r.status, r.deployment, r.version, r.error_message, r.timeout) == ("completed", D, "v1", None, 300)
    assert r.result == fixture_deployment.request({"portrait": str(pictures["astronaut"])})
    assert r.result["face_found"] is True


def test_version_level_request_and_retrieval(core, fixture_deployment, pictures):
    uri = upload(core, pictures["coffee"])
    r = core[1].deployment_version_requests_create("local", D, "v1", {"portrait": uri})
    assert r.result == fixture_deployment.request({"portrait": str(pictures["coffee"])})
    stored(core[1], D, r.id)
    got = core[1].deployment_requests_get("local", D, r.id)
    assert (got.status, got.request_data, got.result) == ("completed", {"portrait": uri}, r.result)
    assert core[1].deployment_requests_get("local", D, r.id, metadata_only=True).result is None


def test_batch_requests_are_processed_and_collected(core, fixture_deployment, pictures):
    uris = [upload(core, pictures[n]) for n in ("astronaut", "camera", "chelsea")]
    created = core[1].batch_deployment_requests_create("local", D, [{"portrait": u} for u in uris])
    assert [r.status for r in created] == ["pending"] * 3 and all(r.time_created for r in created)
    done = wait_done(core[1], D, [r.id for r in created])
    assert [r.result for r in done] == [fixture_deployment.request({"portrait": str(pictures[n])})
                                        for n in ("astronaut", "camera", "chelsea")]
    assert core[1].deployment_version_requests_get("local", D, created[0].id, "v1").status == "completed"


def test_one_bad_input_refuses_the_whole_batch(core, pictures):
    uri = upload(core, pictures["astronaut"])
    with pytest.raises(ubiops.ApiException) as e:
        core[1].batch_deployment_requests_create("local", D, [{"portrait": uri}, {"picture": uri}])
    assert e.value.status == 400
    assert json.loads(e.value.body)["error"].startswith("Batch input 1: Input field 'portrait' is missing")


def _png_header(width, height) -> bytes:
    "A PNG that claims `width` x `height` pixels: a decompression bomb before decoding."
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, content, message", [
    ("empty.png", lambda p: b"", "Image is empty (0 bytes)"),
    ("truncated.png", lambda p: p.read_bytes()[:len(p.read_bytes()) // 2], "Image data is truncated or corrupt"),
    ("document.png", lambda p: b"%PDF-1.4 not a picture", "File is not an image Pillow can read"),
    ("bomb.png", lambda p: _png_header(9000, 9000), "9000x9000 = 81,000,000 pixels"),
    ("huge.png", lambda p: b"\0" * (20 * 2**20 + 1), "at most 20,971,520 bytes are allowed"),
])
def test_bad_portraits_fail_with_their_message(core, pictures, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content(pictures["astronaut"]))
    r = core[1].deployment_requests_create("local", D, {"portrait": upload(core, path)})
    assert r.status == "failed" and message in r.error_message
    assert core[1].deployment_requests_create("local", D, {"portrait": upload(core, pictures["coffee"])}
                                              ).status == "completed"  # and the server answers the next one


@pytest.mark.parametrize("data, message", [
    ({}, "Input field 'portrait' is missing"),
    ({"portrait": "ubiops-file://default/astronaut.png", "size": 3}, "Input field 'size' is not declared"),
    ({"portrait": 3}, "Input field 'portrait' must be a file"),
    ({"portrait": "/etc/passwd"}, "Input field 'portrait' must be a file URI like 'ubiops-file://default/"),
    ({"portrait": "ubiops-file://default/never-uploaded.png"}, "Input field 'portrait': file "
                                                               "'ubiops-file://default/never-uploaded.png' was not"),
    ({"portrait": "ubiops-file://default/../state.sqlite"}, "File name '../state.sqlite' is not allowed"),
])
def test_input_not_matching_the_spec_is_a_400_naming_the_field(core, pictures, data, message):
    upload(core, pictures["astronaut"])
    with pytest.raises(ubiops.ApiException) as e:
        core[1].deployment_requests_create("local", D, data)
    assert e.value.status == 400 and message in json.loads(e.value.body)["error"]
    assert core[1].service_status().status == "ok"


def test_body_that_is_not_json_is_a_400(server):
    url, token = server
    r = httpx.post(f"{url}/v2.1/projects/local/deployments/{D}/requests", content=b"{not json",
                   headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("The request body is not valid JSON")


def test_unknown_deployment_and_request_are_404(core):
    with pytest.raises(ubiops.ApiException) as e:
        core[1].deployment_requests_create("local", "nope", {"portrait": "x"})
    assert (e.value.status, json.loads(e.value.body)) == (404, {"error": "Deployment was not found"})
    with pytest.raises(ubiops.ApiException) as e:
        core[1].deployment_requests_get("local", D, "0" * 36)
    assert (e.value.status, json.loads(e.value.body)) == (404, {"error": "Request was not found"})


def test_requests_are_listed_in_the_clients_model_with_its_filters(core, pictures):
    uri = upload(core, pictures["coffee"], "listed.png")
    since = datetime.now(timezone.utc)
    made = [core[1].deployment_version_requests_create("local", D, "v1", {"portrait": uri}) for _ in range(3)]
    for r in made:
        stored(core[1], D, r.id)
    listed = core[1].deployment_version_requests_list("local", D, "v1", status="completed", limit=1000,
                                                      start_date=since.isoformat())
    assert all(isinstance(r, ubiops.models.DeploymentRequestList) for r in listed)
    assert {r.id for r in made} == {r.id for r in listed}  # none before the first
    found = core[1].deployment_requests_list("local", D, search_id=made[1].id[:13])
    assert [r.id for r in found] == [made[1].id] and found[0].status == "completed"
    assert core[1].deployment_requests_list("local", D, status="pending") == []
    page = core[1].deployment_requests_list("local", D, limit=1, offset=1)
    everything = core[1].deployment_requests_list("local", D, limit=1000)
    assert len(page) == 1 and page[0].id == everything[1].id  # oldest first


def test_request_input_and_output_are_read_from_their_endpoints(core, pictures):
    uri = upload(core, pictures["astronaut"], "io.png")
    r = core[1].deployment_requests_create("local", D, {"portrait": uri})
    stored(core[1], D, r.id)
    assert json.loads(core[1].deployment_requests_input_get("local", D, r.id).read()) == {"portrait": uri}
    assert json.loads(core[1].deployment_version_requests_output_get("local", D, r.id, "v1").read()) == r.result
    with pytest.raises(ubiops.ApiException) as e:
        core[1].deployment_requests_output_get("local", D, "0" * 36)
    assert (e.value.status, json.loads(e.value.body)["error"]) == (404, "Request was not found")


@pytest.mark.parametrize("params, message", [
    ({"status": "done"}, "status 'done' is not one of pending, processing, completed, failed, cancelled."),
    ({"status": "processing,completed"}, "'pending' and 'processing' can't be combined with other statuses"),
    ({"status": "pending", "search_id": "ab"}, "search_id filter completed, failed or cancelled requests only"),
    ({"start_date": "last week"}, "start_date is 'last week', not an ISO 8601 date or time"),
    ({"limit": 1001}, "query.limit: Input should be less than or equal to 1000"),
])
def test_a_bad_list_filter_is_a_400_naming_it(server, params, message):
    r = httpx.get(f"{server[0]}/v2.1/projects/local/deployments/{D}/requests", params=params,
                  headers={"Authorization": f"Token {server[1]}"})
    assert r.status_code == 400 and message in r.json()["error"]
