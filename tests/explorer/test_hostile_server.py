"""The running server against hostile uploads and requests, over HTTP as a client sends them.

Each file here once took a server process down (or pinned a core) while being small enough to
pass the upload limit. Against a real ``structure-explorer`` process: every one is answered with a
message naming the file and the problem, the process lives on, its peak memory (VmHWM) stays
small, and a good file still opens afterwards.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import sqlite3
import urllib.error
import urllib.request
import zipfile
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlsplit

import ase
import ase.db
import ase.io
import numpy as np
import pytest
from ase.build import molecule

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data"
#: the server's peak resident memory may grow by at most this much over all the cases
PEAK_GROWTH_MB = 400


def _xyz(atoms) -> bytes:
    buffer = io.StringIO()
    ase.io.write(buffer, atoms, format="extxyz")
    return buffer.getvalue().encode()


def _npz_bomb() -> bytes:
    """A ~300 kB NPZ whose ``features.npy`` inflates to 300 MB (over the 200 MB default)."""
    rows, columns = 37_500, 1_000
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, columns)))
    header["shape"] = (rows, columns)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("features.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            zeros = bytes(8 * columns * 500)
            for _ in range(rows // 500):
                member.write(zeros)
    return buffer.getvalue()


def _database_with_a_view(tmp_path: Path) -> bytes:
    path = tmp_path / "view.db"
    with ase.db.connect(path) as db:
        db.write(molecule("H2O"))
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIEW forever AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
    connection.commit()
    connection.close()
    return path.read_bytes()


def _hostile_files(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    """(file name, bytes, words the message must hold)."""
    far = molecule("H2O")
    far.positions[0] = [1e20, 0, 0]
    crowded = ase.Atoms("H" * 5_000, positions=np.random.default_rng(0).uniform(0, 3, (5_000, 3)), cell=[3, 3, 3], pbc=True)
    return [
        ("POSCAR", b"x\n1.0\n5 0 0\n0 5 0\n0 0 5\nH\n+1000000000\nCartesian\n0 0 0\n", "EXPLORER_MAX_ATOMS_PER_STRUCTURE"),
        ("bomb.npz", _npz_bomb(), "decompressed"),
        ("big.xyz.gz", gzip.compress(b"120000\n\n" + b"H 0 0 0\n" * 120_000), "EXPLORER_MAX_ATOMS_PER_STRUCTURE"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("digits.json", b'{"structures": [], "properties": {"e": {"target": "structure", "values": [%s]}}}' % (b"9" * 5_000),
         "cannot be read"),
        ("view.db", _database_with_a_view(tmp_path), "defines a view"),
        ("far.xyz", _xyz(far), "EXPLORER_MAX_COORDINATE"),
        ("crowded.xyz", _xyz(crowded), "EXPLORER_MIN_VOLUME_PER_ATOM"),
        ("object_array.npz", (DATA / "bad" / "object_array.npz").read_bytes(), "object_array.npz"),
        ("empty.xyz", b"", "empty"),
    ]


class Client:
    """A browser session's HTTP side: a cookie jar, and callbacks posted as the renderer posts them."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with self.opener.open(url + "_dash-layout", timeout=30) as response:
            self.layout = response.read().decode()
        with self.opener.open(url + "_dash-dependencies", timeout=30) as response:
            self.callbacks = json.load(response)

    def _output_of(self, input_name: str, writing: str) -> str:
        for spec in self.callbacks:
            if (any(f"{i['id']}.{i['property']}" == input_name for i in spec["inputs"]) and writing in spec["output"]
                    and not spec.get("clientside_function")):
                return spec["output"]
        raise AssertionError(f"no server callback takes {input_name} and writes {writing}")

    def post(self, body: bytes) -> tuple[int, str]:
        request = urllib.request.Request(self.url + "_dash-update-component", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def call(self, input_name: str, value, state: dict | None = None, writing: str = "") -> tuple[int, str]:
        output = self._output_of(input_name, writing)
        spec = next(s for s in self.callbacks if s["output"] == output)
        outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in output.strip(".").split("...")]
        inputs = [{"id": i["id"], "property": i["property"], "value": value if f"{i['id']}.{i['property']}" == input_name else None}
                  for i in spec["inputs"]]
        states = [{"id": s["id"], "property": s["property"], "value": (state or {}).get(f"{s['id']}.{s['property']}")}
                  for s in spec["state"]]
        payload = {"output": output, "outputs": outputs if output.startswith("..") else outputs[0], "inputs": inputs,
                   "changedPropIds": [input_name], "state": states}
        return self.post(json.dumps(payload).encode())

    def upload(self, name: str, data: bytes) -> tuple[int, str]:
        contents = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
        return self.call("upload-dataset.contents", contents, {"upload-dataset.filename": name}, writing="dataset-state")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_hostile_uploads_and_requests_against_the_running_server(serve_app, tmp_path):
    url, log = serve_app([])
    server = serve_app.processes[-1]
    client = Client(url)
    files = _hostile_files(tmp_path)
    # the sample's first open (and its imports) before measuring
    assert client.upload("explore_qm9.xyz", (DATA / "explore_qm9.xyz").read_bytes())[0] == 200
    before = _peak_rss_mb(server.pid)

    for name, data, needle in files:
        status, text = client.upload(name, data)
        assert status == 200, (name, status, text[:300])
        assert f"Could not open {name}" in text and needle in text, (name, text[:500])
        assert '"dataset-state"' not in text, name  # the dataset shown before stays
        assert server.poll() is None, f"the server died on {name}"

    # a request body far over the limit for anything but an upload: refused unread
    status, text = client.post(b'{"output":"map-graph.figure","inputs":' + b"[" * 5_000_000 + b"]" * 5_000_000 + b"}")
    assert status == 413 and "EXPLORER_MAX_REQUEST_MB" in text
    # a body of no declared length: refused
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", "/_dash-update-component")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("Content-Type", "application/json")
    connection.endheaders()
    connection.send(b"2\r\n{}\r\n0\r\n\r\n")
    assert connection.getresponse().status == 411
    connection.close()
    # a forged viewer state: a row and a dataset that do not exist
    for forged in ({"dataset": "0" * 64, "per": "structure", "row": 0}, {"dataset": "x", "per": "atom", "row": 10**12}):
        status, text = client.call("viewer-state.data", forged, writing="viewer-payload.data")
        assert status == 200 and "Cannot show this point" in text, text[:300]

    assert server.poll() is None
    growth = _peak_rss_mb(server.pid) - before
    print(f"server peak memory grew by {growth:.0f} MB over {len(files)} hostile uploads and 4 hostile requests")
    assert growth < PEAK_GROWTH_MB, f"peak memory grew by {growth:.0f} MB"
    # and it still serves: a good file opens
    status, text = client.upload("explore_c-gap-20u.xyz", (DATA / "explore_c-gap-20u.xyz").read_bytes())
    assert status == 200 and "Opened explore_c-gap-20u.xyz" in text, text[:300]
    assert "Traceback" not in log.read_text()
