"""Request bodies: only an upload may be large; any other callback body over
``max_request_mb`` is refused before it is read, and the server goes on serving."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from explorer.security import _Prefixed
from explorer.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def small_limits_app(tmp_path_factory):
    from explorer.app import create_app

    # create_app publishes its settings in this process's environment (for its workers): put the
    # environment back afterwards, or later tests here would read files under a 1 MB limit
    with pytest.MonkeyPatch.context() as environment:
        for name in ("EXPLORER_DATA_DIR", "EXPLORER_BACKEND", "EXPLORER_MAX_UPLOAD_MB", "EXPLORER_NATIVE_XYZ"):
            present = name in os.environ
            environment.setenv(name, os.environ.get(name, ""))  # remembers the value, or that there was none
            if not present:
                environment.delenv(name)
        # requests: 64 KiB; uploads: 1 MB (a request of up to ~2.4 MB)
        yield create_app(Settings(data_dir=tmp_path_factory.mktemp("limits"), max_request_mb=1 / 16, max_upload_mb=1))


def _upload_output(app) -> str:
    for output, spec in app.callback_map.items():
        if any(f"{i['id']}.{i['property']}" == "upload-dataset.contents" for i in spec["inputs"]):
            return output
    raise AssertionError("no callback takes upload-dataset.contents")


def _upload_body(output: str, name: str, data: bytes) -> bytes:
    ids = [part for part in output.strip(".").split("...")]
    return json.dumps({
        "output": output,
        "outputs": ([{"id": i.rsplit(".", 1)[0], "property": i.rsplit(".", 1)[1]} for i in ids] if output.startswith("..")
                    else {"id": ids[0].rsplit(".", 1)[0], "property": ids[0].rsplit(".", 1)[1]}),
        "inputs": [{"id": "upload-dataset", "property": "contents",
                    "value": "data:application/octet-stream;base64," + base64.b64encode(data).decode()}],
        "changedPropIds": ["upload-dataset.contents"],
        "state": [{"id": "upload-dataset", "property": "filename", "value": name}],
    }).encode()


def test_a_large_body_for_any_other_callback_is_refused_unread(small_limits_app):
    client = small_limits_app.server.test_client()
    hostile = b'{"output":"map-graph.figure","inputs":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/_dash-update-component", data=hostile, content_type="application/json")
    assert response.status_code == 413
    assert "EXPLORER_MAX_REQUEST_MB" in response.get_json()["error"]
    # pretending to be the upload by naming its input somewhere later does not help: the output decides
    response = client.post("/_dash-update-component", data=b'{"output":"x.y","inputs":"upload-dataset.contents' + b" " * 100_000 + b'"}',
                           content_type="application/json")
    assert response.status_code == 413
    # any other route too
    assert client.post("/_dash-layout", data=b"x" * 100_000).status_code == 413
    # and the server still answers
    assert client.get("/_dash-layout").status_code == 200


def test_an_upload_may_be_large_up_to_its_own_limit(small_limits_app):
    client = small_limits_app.server.test_client()
    output = _upload_output(small_limits_app)
    xyz = (DATA / "explore_c-gap-20u.xyz").read_bytes()  # 28 KB
    padded = xyz + b"\n" * (300_000 - len(xyz))  # blank lines at the end: still the same file, body > 64 KiB
    response = client.post("/_dash-update-component", data=_upload_body(output, "explore_c-gap-20u.xyz", padded),
                           content_type="application/json")
    assert response.status_code == 200, response.data[:300]
    assert "explore_c-gap-20u.xyz" in response.get_data(as_text=True)
    # over the upload's own request limit: refused before reading
    huge = _upload_body(output, "big.xyz", b"x" * 2_000_000)
    assert len(huge) > Settings(max_upload_mb=1).max_upload_request_bytes
    assert client.post("/_dash-update-component", data=huge, content_type="application/json").status_code == 413


def test_a_body_without_a_length_is_refused(small_limits_app):
    client = small_limits_app.server.test_client()
    response = client.post("/_dash-update-component", input_stream=io.BytesIO(b"{}"),
                           headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"})
    assert response.status_code == 411


@pytest.mark.parametrize("size", [1, 3, 4, 5, 100])
def test_the_peeked_stream_gives_back_every_byte(size):
    text = b"line one\nline two\n\nlast line without end"
    for head_length in (0, 4, 9, 12, len(text)):
        stream = _Prefixed(text[:head_length], io.BytesIO(text[head_length:]))
        pieces = []
        while chunk := stream.read(size):
            pieces.append(chunk)
        assert b"".join(pieces) == text
        lines = list(_Prefixed(text[:head_length], io.BytesIO(text[head_length:])))
        assert b"".join(lines) == text and lines == io.BytesIO(text).readlines()
        limited = _Prefixed(text[:head_length], io.BytesIO(text[head_length:]))
        assert limited.readline(size) == io.BytesIO(text).readline(size)
