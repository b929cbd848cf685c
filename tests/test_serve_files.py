"""Bucket files: the signed-URL flow of `ubiops.utils.upload_file`/`download_file`, names with '/', limits."""
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import ubiops

from serve_support import FIXTURES, api, prepare, settings, zip_folder
from server_fixture import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("files")
    data = tmp / "data"
    token = prepare(data, zip_folder(FIXTURES / "faults", tmp / "faults.zip"), "faults")
    with running_server(settings(data, max_upload_mb=1)) as url:
        yield url, token


def test_upload_then_download_with_the_official_helpers(server, tmp_path):
    client, core = api(*server)
    src = tmp_path / "me.jpg"
    src.write_bytes(b"\xff\xd8 some bytes" * 1000)
    uri = ubiops.utils.upload_file(client, "local", str(src), file_name="photos/2026/me.jpg", _progress_bar=False)
    assert uri == "ubiops-file://default/photos/2026/me.jpg"
    item = core.files_get("local", "default", "photos/2026/me.jpg")  # sent as photos%2F2026%2Fme.jpg
    assert (item.file, item.size) == ("photos/2026/me.jpg", src.stat().st_size)
    ubiops.utils.download_file(client, "local", file_uri=uri, output_path=str(tmp_path / "back.jpg"),
                               _progress_bar=False)
    assert (tmp_path / "back.jpg").read_bytes() == src.read_bytes()


def test_upload_url_points_back_at_this_server(server):
    url, token = server
    answer = api(url, token)[1].files_upload("local", "default", "a.png")
    assert answer.provider == "ubiops" and answer.url.startswith(f"{url}/v2.1/projects/local/buckets/default/")


def _signed_url(server, name="b.png") -> str:
    return api(*server)[1].files_upload("local", "default", name).url


def test_a_tampered_or_expired_signature_is_refused(server):
    url = _signed_url(server)
    r = httpx.put(url.replace("signature=", "signature=0"), content=b"x")
    assert r.status_code == 403 and "signature is not valid" in r.json()["error"]
    r = httpx.put(url.replace("b.png", "c.png"), content=b"x")  # signed for another name
    assert r.status_code == 403
    expires = parse_qs(urlsplit(url).query)["expires"][0]
    r = httpx.put(url.replace(f"expires={expires}", "expires=1000"), content=b"x")
    assert r.status_code == 403 and "expired" in r.json()["error"]


def test_uploads_over_the_limit_are_refused(server):
    r = httpx.put(_signed_url(server, "big.bin"), content=b"\0" * (2**20 + 1))
    assert (r.status_code, r.json()["error"]) == (413, "The file is larger than 1,048,576 bytes, the server's "
                                                       "upload limit.")


@pytest.mark.parametrize("name", ["../state.sqlite", "a/../../b", "/etc/passwd", "a//b"])
def test_names_that_could_leave_the_bucket_are_refused(server, name):
    with pytest.raises(ubiops.ApiException) as e:
        api(*server)[1].files_upload("local", "default", name)
    assert e.value.status == 400 and "is not allowed" in json.loads(e.value.body)["error"]


def test_missing_file_is_404(server):
    with pytest.raises(ubiops.ApiException) as e:
        api(*server)[1].files_get("local", "default", "nothing-here.png")
    assert (e.value.status, json.loads(e.value.body)["error"]) == (404, "File 'nothing-here.png' was not found in "
                                                                        "bucket 'default'.")


def test_files_list_pages_by_prefix_delimiter_and_continuation_token(server, tmp_path):
    client, core = api(*server)
    for name in ("list/a.png", "list/b.png", "list/c.png", "list/sub/d.png"):
        (tmp_path / "f").write_bytes(name.encode())
        ubiops.utils.upload_file(client, "local", str(tmp_path / "f"), file_name=name, _progress_bar=False)
    first = core.files_list("local", "default", prefix="list/", limit=2)  # the client's own FileDetail model
    assert isinstance(first, ubiops.models.FileDetail) and [f.file for f in first.files] == ["list/a.png", "list/b.png"]
    rest = core.files_list("local", "default", prefix="list/", limit=2, continuation_token=first.continuation_token)
    assert [f.file for f in rest.files] == ["list/c.png", "list/sub/d.png"] and rest.continuation_token is None
    folders = core.files_list("local", "default", prefix="list/", delimiter="/")
    assert ([f.file for f in folders.files], folders.prefixes) == (["list/a.png", "list/b.png", "list/c.png"],
                                                                   ["list/sub/"])
    assert folders.files[0].size == len(b"list/a.png")


def test_files_list_refuses_a_limit_out_of_range(server):
    r = httpx.get(f"{server[0]}/v2.1/projects/local/buckets/default/files", params={"limit": 0},
                  headers={"Authorization": f"Token {server[1]}"})
    assert (r.status_code, r.json()["error"]) == (400, "query.limit: Input should be greater than or equal to 1")
