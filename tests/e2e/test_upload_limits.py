"""Uploads above the server's size limit: a clear message naming the file, the map kept.

A file just above the limit reaches the reader (its DatasetError names the file and the limit);
one far above it is refused by the web server before any callback runs, so the page says so
itself. Either way the server keeps serving and the dataset shown before stays.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compute.datasets import DatasetError, read_dataset

pytestmark = pytest.mark.browser

DATA = Path(__file__).resolve().parents[1] / "data"
LIMIT_MB = 0.02  # 20 KiB
N_SAMPLE = 985


def test_files_over_the_limit_are_refused_with_a_message(serve_app, open_app, tmp_path):
    # other requests: 20 KiB too, so the 38 KB request of the near-limit file passes only as an upload
    url, _ = serve_app(["--max-upload-mb", str(LIMIT_MB), "--max-request-mb", str(LIMIT_MB)])
    app = open_app(url)
    app.open()
    before = app.map_info()

    near = DATA / "explore_c-gap-20u.xyz"  # 28 KB: above 20 KiB, below what the web server accepts
    with pytest.raises(DatasetError):
        read_dataset(near, max_bytes=int(LIMIT_MB * 1024 * 1024))
    app.upload(near)
    message = app.wait_for_status(near.name, timeout_ms=60_000)
    assert "Could not open" in message

    huge = tmp_path / "huge.xyz"  # 3 MB: the web server refuses the request itself
    huge.write_bytes((Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz").read_bytes() * 3)
    app.upload(huge)
    message = app.wait_for_status("huge.xyz", timeout_ms=60_000)
    assert "upload limit" in message and "MB" in message

    info = app.map_info()
    app.assert_one_point_per_row(info, N_SAMPLE)
    assert info["title"] == before["title"]

    # the server still serves: a small good file opens
    app.upload(DATA / "explore_qm9.xyz")
    app.wait_for_status("explore_qm9.xyz", "5 structures")
