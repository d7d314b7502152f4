"""explorer.store: uploads kept once by content hash, opened through per-session HMAC ids; arrays
and models by key; ids checked before naming files; a private folder that recovers from crashes."""

from __future__ import annotations

import hashlib

import pickle
from pathlib import Path

import numpy as np
import pytest

from compute.datasets import DatasetError
from explorer.store import Store, UnknownIdError, check_id, make_key

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
QM9 = DATA / "explore_qm9.xyz"


def files(root: Path) -> set[str]:
    """What the store wrote besides its own key."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"server.key"}


def test_make_key_is_stable_and_hex():
    a = make_key("features", "abc", {"cutoff": 5.0, "n_max": 8}, "structure")
    b = make_key("features", "abc", {"n_max": 8, "cutoff": 5.0}, "structure")  # dict order does not matter
    assert a == b and len(a) == 64 and check_id(a) == a
    assert make_key("features", "abc", {"cutoff": 5.1, "n_max": 8}, "structure") != a
    assert make_key("features", "abc", {"cutoff": 5.0, "n_max": 8}, "atom") != a


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "../" + "a" * 61, "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "a" * 64 + "/x",
     "/etc/passwd", None, 42, ["a" * 64], {"id": "a" * 64}],
)
def test_ids_validated_by_regex(bad, tmp_path):
    store = Store(tmp_path)
    with pytest.raises(UnknownIdError):
        check_id(bad)
    for call in (store.dataset, store.has_arrays, store.load_arrays, store.load_model, store.dataset_name):
        with pytest.raises(UnknownIdError):
            call(bad)
    with pytest.raises(UnknownIdError):
        store.save_arrays(bad, x=np.zeros(2))
    with pytest.raises(UnknownIdError):
        store.save_model(bad, {"a": 1})
    assert files(tmp_path) == set()
    assert not store.may_open("s" * 40, bad)


def test_unknown_ids_raise(tmp_path):
    store = Store(tmp_path)
    unknown = "0" * 64
    assert not store.has_arrays(unknown)
    for call in (store.dataset, store.load_arrays, store.load_model):
        with pytest.raises(UnknownIdError, match="000000000000"):
            call(unknown)
    # UnknownIdError is a KeyError: callbacks may catch either
    assert issubclass(UnknownIdError, KeyError)


def test_add_dataset_keeps_raw_bytes_once_under_their_hash(tmp_path):
    store = Store(tmp_path)
    data = QM9.read_bytes()
    content = hashlib.sha256(data).hexdigest()
    dataset_id = store.add_dataset(data, "../../etc/passwd.xyz", session="session-a" * 4)
    assert check_id(dataset_id) == dataset_id
    # the bytes under their hash and the id's description: the client's file name is never a path
    assert files(tmp_path) == {f"blobs/{content}.raw", f"datasets/{dataset_id}.json"}
    assert (tmp_path / "blobs" / f"{content}.raw").read_bytes() == data
    assert not (tmp_path.parent / "etc").exists()
    dataset = store.dataset(dataset_id)
    assert dataset.n_structures == 5 and dataset.n_atoms == 19
    assert store.dataset_name(dataset_id) == dataset.name
    # the same bytes under the same name again, same session: the same id, nothing new written
    assert store.add_dataset(data, "../../etc/passwd.xyz", session="session-a" * 4) == dataset_id
    assert len(files(tmp_path)) == 2
    # another session uploading the same bytes gets its own id, and the bytes are not stored again
    other = store.add_dataset(data, "../../etc/passwd.xyz", session="session-b" * 4)
    assert other != dataset_id and len(files(tmp_path)) == 3 and len(list((tmp_path / "blobs").iterdir())) == 1
    assert store.content_key(other) == store.content_key(dataset_id)  # computed results are shared
    # another store on the same folder (another worker process) sees it, with the same key
    assert Store(tmp_path).dataset(dataset_id).n_atoms == 19
    assert Store(tmp_path).add_dataset(data, "../../etc/passwd.xyz", session="session-a" * 4) == dataset_id


def test_ids_are_per_session_and_unpredictable(tmp_path):
    """Knowing a file's content and name gives no id: ids are HMACs under the server's key."""
    data = QM9.read_bytes()
    first, second = Store(tmp_path / "one"), Store(tmp_path / "two")
    # the same file, session and name in two deployments: different ids
    assert first.add_dataset(data, "qm9.xyz", session="s" * 40) != second.add_dataset(data, "qm9.xyz", session="s" * 40)
    assert first.add_dataset(data, "qm9.xyz", session="s" * 40) != make_key("dataset", hashlib.sha256(data).hexdigest(), "qm9.xyz")
    mine = first.add_dataset(data, "qm9.xyz", session="a" * 40)
    assert first.may_open("a" * 40, mine)
    assert not first.may_open("b" * 40, mine) and not first.may_open(None, mine)
    shared = first.share(mine, "b" * 40)  # the first dataset, given to another session
    assert shared != mine and first.may_open("b" * 40, shared) and first.dataset(shared).n_atoms == 19
    assert not first.may_open("a" * 40, "../../etc/passwd")
    key = tmp_path / "one" / "server.key"
    assert key.stat().st_mode & 0o077 == 0 and len(key.read_bytes()) == 32


def test_bad_upload_stores_nothing(tmp_path):
    store = Store(tmp_path)
    for bad in ("truncated.xyz", "empty.xyz", "nan_positions.xyz", "notes.txt"):
        with pytest.raises(DatasetError, match=bad.split(".")[0]):
            store.add_dataset((DATA / "bad" / bad).read_bytes(), bad)
    with pytest.raises(DatasetError):
        store.add_dataset(QM9.read_bytes(), "qm9.xyz", max_bytes=100)
    assert files(tmp_path) == set()


def test_add_dataset_file(tmp_path):
    store = Store(tmp_path / "store")
    dataset_id = store.add_dataset_file(REPO_ROOT / "sample_datasets" / "small_molecules-1000.xyz")
    dataset = store.dataset(dataset_id)
    assert dataset.n_structures == 985
    assert store.dataset_name(dataset_id) == "small_molecules-1000.xyz"


def test_arrays_round_trip(tmp_path):
    store = Store(tmp_path)
    key = make_key("test", 1)
    rng = np.random.default_rng(0)
    arrays = {
        "features": rng.normal(size=(7, 5)),
        "labels": np.arange(7, dtype=np.int64),
        "names": np.array(["a", "b[1]", "ü"]),
        "mixing": np.array(0.25),
        "mask": np.array([True, False]),
    }
    assert not store.has_arrays(key)
    assert store.save_arrays(key, **arrays) == key
    assert store.has_arrays(key)
    loaded = store.load_arrays(key)
    assert set(loaded) == set(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype and np.array_equal(loaded[name], value), name
    # overwrite atomically: no temporary files left behind
    store.save_arrays(key, features=np.zeros(3))
    assert list(store.load_arrays(key)) == ["features"]
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_arrays_load_without_pickle(tmp_path):
    """An object array (which np.load could only unpickle) is refused, not unpickled."""
    store = Store(tmp_path)
    key = make_key("object")
    path = tmp_path / "arrays" / f"{key}.npz"
    np.savez(path, evil=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        store.load_arrays(key)


def test_models_round_trip(tmp_path):
    store = Store(tmp_path)
    key = make_key("model")
    model = {"weights": np.arange(3.0), "name": "pcovr"}
    store.save_model(key, model)
    loaded = store.load_model(key)
    assert loaded["name"] == "pcovr" and np.array_equal(loaded["weights"], model["weights"])
    assert pickle.loads((tmp_path / "models" / f"{key}.pkl").read_bytes())["name"] == "pcovr"


def test_gzip_files_open_through_the_store_and_the_command_line(tmp_path):
    """A compressed upload is checked against the limit once (decompressed size included), then
    re-read from the store without that limit: the compressed size must not be taken for it."""
    import gzip

    raw = (DATA / "explore_c-gap-20u.xyz").read_bytes()
    store = Store(tmp_path / "store")
    dataset_id = store.add_dataset(gzip.compress(raw), "carbon.xyz.gz", max_bytes=10_000_000)
    assert store.dataset(dataset_id).n_structures == 5
    chemiscope = (DATA / "CSD-1000R.chemiscope.json").read_bytes()
    path = tmp_path / "csd.json.gz"
    path.write_bytes(gzip.compress(chemiscope))
    assert store.dataset(store.add_dataset_file(path)).n_structures == 10


def test_same_bytes_under_another_name_keep_their_own_name(tmp_path):
    store = Store(tmp_path / "store")
    data = (DATA / "explore_qm9.xyz").read_bytes()
    first = store.add_dataset(data, "private-project.xyz")
    second = store.add_dataset(data, "mine.xyz")
    assert first != second
    assert store.dataset(second).name == "mine.xyz" and store.dataset_name(second) == "mine.xyz"


def test_data_folder_is_private_to_the_servers_user(tmp_path):
    import stat

    from explorer.app import create_app
    from explorer.settings import Settings

    root = tmp_path / "data"
    root.mkdir(mode=0o755)  # an existing folder is made private too
    create_app(Settings(data_dir=root))
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    stored = [p for p in root.rglob("*") if p.is_file()]
    assert stored, "the sample was stored"
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in stored:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_recover_removes_what_a_crash_left_and_the_upload_works_again(tmp_path):
    import os
    import time

    store = Store(tmp_path)
    data = QM9.read_bytes()
    dataset_id = store.add_dataset(data, "qm9.xyz")
    description = tmp_path / "datasets" / f"{dataset_id}.json"
    blob = tmp_path / "blobs" / f"{hashlib.sha256(data).hexdigest()}.raw"
    # the bytes are gone (a crash while they were written, or another worker's clean-up): the id
    # that named them must go too
    blob.unlink()
    with pytest.raises(UnknownIdError, match="upload the file again"):
        store.dataset(dataset_id)
    stale_tmp = tmp_path / "blobs" / "tmpabc.tmp"
    stale_tmp.write_bytes(b"half")
    young_tmp = tmp_path / "arrays" / "tmpdef.tmp"  # another worker writing right now
    young_tmp.write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(stale_tmp, (old, old))
    removed = store.recover()
    assert set(removed) == {stale_tmp, description}
    assert young_tmp.exists()
    # the same upload again is stored whole and opens
    assert store.add_dataset(data, "qm9.xyz") == dataset_id
    assert store.dataset(dataset_id).n_structures == 5


def test_garbage_collection_drops_least_recently_used_derived_entries_first(tmp_path):
    import os
    import time

    store = Store(tmp_path)
    dataset_id = store.add_dataset(QM9.read_bytes(), "qm9.xyz")
    now = time.time()
    keys = [make_key("arrays", k) for k in range(4)]
    for age_days, key in zip((5, 3, 2, 1), keys):
        store.save_arrays(key, x=np.zeros(125_000))  # 1 MB each
        path = tmp_path / "arrays" / f"{key}.npz"
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    dataset_bytes = next((tmp_path / "blobs").iterdir()).stat().st_size
    # room for the dataset and two arrays: the two used longest ago go
    removed = store.collect_garbage(max_bytes=dataset_bytes + 2_100_000, max_age_s=30 * 86400, now=now)
    assert removed["files"] == 2 and removed["datasets"] == 0
    assert [store.has_arrays(k) for k in keys] == [False, False, True, True]
    # the age limit: unused for over 1.5 days
    store.collect_garbage(max_bytes=10**12, max_age_s=1.5 * 86400, now=now)
    assert [store.has_arrays(k) for k in keys] == [False, False, False, True]
    # a read marks an entry used; a cap below the derived entries alone takes the datasets too
    store.load_arrays(keys[3])
    removed = store.collect_garbage(max_bytes=0, max_age_s=30 * 86400, now=now)
    assert removed["datasets"] == 1 and not any(store.has_arrays(k) for k in keys)
    with pytest.raises(UnknownIdError):
        store.dataset(dataset_id)
