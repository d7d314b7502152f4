"""Server-side store: datasets and computed arrays on disk, keyed by content hash.

The browser only ever holds ids (64 hex digits) that this module derives itself; an id coming back
from a client is checked against that pattern before it names a file, so no client-supplied text
becomes a filesystem path. Uploaded files are kept as raw bytes under their hash and re-read with
``compute.datasets.read_dataset``; nothing from an upload is ever unpickled. Computed results
(features, map coordinates, fitted estimators) are written by the server itself.

Every worker process (the web server's and the background jobs') opens the same folder, so the
store holds no state of its own beyond an in-process read cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from compute.datasets import Dataset, read_dataset

_ID = re.compile(r"^[0-9a-f]{64}$")
#: size limit for files that need none: the operator's own dataset, and stored files re-read
#: after they passed the upload limit
TRUSTED_MAX_BYTES = 1 << 62


FOLDERS = ("datasets", "arrays", "models", "sessions")
#: a temporary file older than this at start-up was left by a crash (younger: another worker's write)
STALE_TEMPORARY_S = 3600


class UnknownIdError(KeyError):
    """An id that is malformed or names nothing in the store."""


def make_key(*parts) -> str:
    """A stable 64-hex-digit key for JSON-serialisable parts (dataset id, hyperparameters, ...)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_id(value) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise UnknownIdError(f"not a valid id: {str(value)[:80]!r}")
    return value


class Store:
    """Datasets and arrays under ``root``: ``datasets/<id>.raw`` (+ ``.json``), ``arrays/<key>.npz``."""

    def __init__(self, root):
        self.root = Path(root)
        # private to the server's user: uploads, and ids that open them, are listed here
        for folder in (self.root, *(self.root / name for name in FOLDERS)):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _make_private(folder)

    # -- datasets ---------------------------------------------------------------------------------
    def add_dataset(self, data: bytes, name: str, *, max_bytes: int | None = None) -> str:
        """Validate and keep an uploaded file; returns its id. Raises DatasetError for bad files
        (then nothing is stored).

        The id hashes the name with the content, so the same bytes uploaded under another name
        never show the first uploader's file name.
        """
        dataset = read_dataset(data, name=name, max_bytes=max_bytes)
        dataset_id = make_key("dataset", dataset.content_hash, dataset.name)
        raw = self.root / "datasets" / f"{dataset_id}.raw"
        if not (raw.exists() and raw.with_suffix(".json").exists()):
            # the description first, the bytes last: a .raw file is only ever there complete and
            # described, whenever a crash comes (recover() removes what a crash left)
            _atomic_write(raw.with_suffix(".json"), json.dumps({"name": dataset.name, "format": dataset.format}).encode())
            _atomic_write(raw, data)
        return dataset_id

    def add_dataset_file(self, path) -> str:
        """Keep a file given on the server side (the command line's dataset)."""
        path = Path(path)
        return self.add_dataset(path.read_bytes(), path.name, max_bytes=TRUSTED_MAX_BYTES)

    def dataset(self, dataset_id: str) -> Dataset:
        raw = self.root / "datasets" / f"{check_id(dataset_id)}.raw"
        if not raw.exists():
            raise UnknownIdError(f"no dataset {dataset_id[:12]}… in this store")
        _mark_used(raw)
        return _read_cached(str(raw), raw.stat().st_mtime_ns)

    def dataset_name(self, dataset_id: str) -> str:
        meta = self.root / "datasets" / f"{check_id(dataset_id)}.json"
        return json.loads(meta.read_text())["name"] if meta.exists() else dataset_id[:12]

    # -- upkeep ---------------------------------------------------------------------------------
    def recover(self, now: float | None = None) -> list[Path]:
        """Remove what an interrupted write left (at start-up): temporary files older than
        :data:`STALE_TEMPORARY_S`, and a dataset's description whose bytes never arrived.
        Returns the removed paths."""
        now = time.time() if now is None else now
        removed = []
        for folder in FOLDERS[:3]:
            for path in (self.root / folder).iterdir():
                stale = now - _mtime(path) > STALE_TEMPORARY_S
                orphan = path.suffix == ".json" and folder == "datasets" and not path.with_suffix(".raw").exists()
                if stale and (path.suffix == ".tmp" or orphan):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    def collect_garbage(self, max_bytes: int, max_age_s: float, now: float | None = None) -> dict:
        """Keep the folder under ``max_bytes`` and drop entries unused for ``max_age_s``: derived
        arrays and models first, least recently used first (every read marks an entry used);
        datasets only when the derived entries alone cannot bring it under the cap. Everything
        removed can be recomputed, or uploaded again. Returns counts and bytes removed."""
        now = time.time() if now is None else now
        derived = [p for folder in ("arrays", "models") for p in (self.root / folder).iterdir() if p.suffix != ".tmp"]
        datasets = [p for p in (self.root / "datasets").glob("*.raw")]
        entries = [(p, _mtime(p), _size(p), False) for p in derived] + [(p, _mtime(p), _size(p) + _size(p.with_suffix(".json")), True)
                                                                         for p in datasets]
        total = sum(size for _, _, size, _ in entries)
        removed = {"files": 0, "bytes": 0, "datasets": 0}

        def drop(path, size, is_dataset):
            nonlocal total
            path.unlink(missing_ok=True)
            if is_dataset:
                path.with_suffix(".json").unlink(missing_ok=True)
                removed["datasets"] += 1
            removed["files"] += 1
            removed["bytes"] += size
            total -= size

        # derived entries (oldest use first), then datasets
        for path, used, size, is_dataset in sorted(entries, key=lambda e: (e[3], e[1])):
            if now - used > max_age_s or total > max_bytes:
                drop(path, size, is_dataset)
        return removed

    # -- which browser session may open which dataset -------------------------------------------
    def _session_dir(self, session: str) -> Path:
        # the cookie's value is never a path: its hash names the folder
        return self.root / "sessions" / hashlib.sha256(str(session).encode()).hexdigest()

    def grant(self, session: str | None, dataset_id: str) -> None:
        """Let browser session ``session`` open ``dataset_id`` again later (a reload, a link)."""
        if not session:
            return
        folder = self._session_dir(session)
        folder.mkdir(exist_ok=True)
        (folder / check_id(dataset_id)).touch()

    def may_open(self, session: str | None, dataset_id: str) -> bool:
        """True when ``session`` uploaded (or was given) ``dataset_id``."""
        if not session:
            return False
        try:
            return (self._session_dir(session) / check_id(dataset_id)).exists()
        except UnknownIdError:
            return False

    # -- arrays -----------------------------------------------------------------------------------
    def has_arrays(self, key: str) -> bool:
        return (self.root / "arrays" / f"{check_id(key)}.npz").exists()

    def save_arrays(self, key: str, **arrays) -> str:
        path = self.root / "arrays" / f"{check_id(key)}.npz"
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(handle.name, path)
        return key

    def load_arrays(self, key: str) -> dict[str, np.ndarray]:
        path = self.root / "arrays" / f"{check_id(key)}.npz"
        if not path.exists():
            raise UnknownIdError(f"no arrays {key[:12]}… in this store")
        _mark_used(path)
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

    def save_matrix(self, key: str, matrix) -> str:
        """One large array as ``.npy``, so readers can memory-map it (features of big datasets)."""
        path = self.root / "arrays" / f"{check_id(key)}.npy"
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.save(handle, np.asarray(matrix), allow_pickle=False)
        os.replace(handle.name, path)
        return key

    def has_matrix(self, key: str) -> bool:
        return (self.root / "arrays" / f"{check_id(key)}.npy").exists()

    def load_matrix(self, key: str, mmap: bool = True) -> np.ndarray:
        """The array saved by :meth:`save_matrix`, memory-mapped read-only by default."""
        path = self.root / "arrays" / f"{check_id(key)}.npy"
        if not path.exists():
            raise UnknownIdError(f"no matrix {key[:12]}… in this store")
        _mark_used(path)
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

    # -- fitted estimators (written by this server only, never from an upload) -------------------
    def save_model(self, key: str, model) -> str:
        _atomic_write(self.root / "models" / f"{check_id(key)}.pkl", pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        return key

    def load_model(self, key: str):
        """The estimator saved under ``key``, shared within this process (hold
        :func:`model_lock` while changing it, e.g. to re-fit at another mixing)."""
        path = self.root / "models" / f"{check_id(key)}.pkl"
        if not path.exists():
            raise UnknownIdError(f"no model {key[:12]}… in this store")
        _mark_used(path)
        return _load_model_cached(str(path), path.stat().st_mtime_ns)


_model_locks: dict[str, threading.Lock] = {}
_model_locks_guard = threading.Lock()


def model_lock(key: str) -> threading.Lock:
    """A per-model lock for this process: models are shared by the server's threads."""
    with _model_locks_guard:
        return _model_locks.setdefault(key, threading.Lock())


@functools.lru_cache(maxsize=4)
def _load_model_cached(path: str, mtime_ns: int):
    # a slider move re-uses the loaded model instead of unpickling a large one each time
    return pickle.loads(Path(path).read_bytes())  # our own pickle, written by Store.save_model


def _make_private(path: Path) -> None:
    try:
        path.chmod(0o700)
    except OSError:  # a folder of another owner (a shared mount): its own policy applies
        pass


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


#: an entry's modification time is its last use (for least-recently-used eviction); refreshed at
#: most this often, so reads do not turn into writes
_USE_RESOLUTION_S = 600


def _mark_used(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime > _USE_RESOLUTION_S:
            os.utime(path)
    except OSError:
        pass


def _atomic_write(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


@functools.lru_cache(maxsize=8)
def _read_cached(raw_path: str, mtime_ns: int) -> Dataset:
    """Parse a stored file once per process (the file never changes under its hash)."""
    meta = Path(raw_path).with_suffix(".json")
    info = json.loads(meta.read_text()) if meta.exists() else {"name": Path(raw_path).name}
    data = Path(raw_path).read_bytes()
    # already checked against the upload limit when it was added (decompressed size included)
    return read_dataset(data, format=info.get("format") or None, name=info["name"], max_bytes=TRUSTED_MAX_BYTES)
