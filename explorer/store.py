"""Server-side store: datasets and computed arrays on disk.

An upload's bytes are kept once, by their content hash (``blobs/<sha256>.raw``), and re-read
with ``compute.datasets.read_dataset``; nothing from an upload is ever unpickled. Each browser
session opens them through its *own* dataset id (``datasets/<id>.json``: name, format, blob): an
HMAC of (session, content, name) under the server's key (``server.key``), so knowing a file's
content gives no id, and an id in one session's link opens nothing in another's. Computed
results (features, map coordinates, fitted estimators) are keyed by the content they derive from
(:meth:`Store.content_key`), so sessions opening the same file share them, and are written by the
server itself.

The browser only ever holds ids (64 hex digits); an id coming back from a client is checked
against that pattern before it names a file, so no client-supplied text becomes a filesystem
path. Every worker process (the web server's and the background jobs') opens the same folder, so
the store holds no state of its own beyond an in-process read cache.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import json
import os
import pickle
import re
import secrets
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


FOLDERS = ("datasets", "blobs", "arrays", "models")
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
    """Datasets and arrays under ``root``: ``blobs/<sha256>.raw``, ``datasets/<id>.json``,
    ``arrays/<key>.npz`` / ``.npy``, ``models/<key>.pkl``."""

    def __init__(self, root):
        self.root = Path(root)
        # private to the server's user: uploads, and ids that open them, are listed here
        for folder in (self.root, *(self.root / name for name in FOLDERS)):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _make_private(folder)
        self._key = _server_key(self.root / "server.key")

    # -- datasets ---------------------------------------------------------------------------------
    def add_dataset(self, data: bytes, name: str, *, max_bytes: int | None = None, session: str | None = None) -> str:
        """Validate and keep an uploaded file; returns browser session ``session``'s id for it.
        Raises DatasetError for bad files (then nothing is stored).

        The same bytes are stored once; under another name they get another id, so a file never
        shows another uploader's file name.
        """
        if max_bytes is None:  # the app's limit (EXPLORER_MAX_UPLOAD_MB), read here: compute knows no app settings
            from .settings import Settings

            max_bytes = Settings.from_env().max_upload_bytes
        dataset = read_dataset(data, name=name, max_bytes=max_bytes)
        blob = self.root / "blobs" / f"{dataset.content_hash}.raw"
        if not blob.exists():
            _atomic_write(blob, data)  # the bytes first, then the id that opens them
        _remember_parsed((dataset.content_hash, dataset.format, dataset.name), dataset)  # parsed once, not again
        return self._issue(session, dataset.content_hash, dataset.name, dataset.format)

    def add_dataset_file(self, path, session: str | None = None) -> str:
        """Keep a file given on the server side (the command line's dataset)."""
        path = Path(path)
        return self.add_dataset(path.read_bytes(), path.name, max_bytes=TRUSTED_MAX_BYTES, session=session)

    def share(self, dataset_id: str, session: str | None) -> str:
        """Browser session ``session``'s own id for the data of ``dataset_id`` (the dataset every
        page opens first, given on the command line)."""
        meta = self._meta(dataset_id)
        return self._issue(session, meta["blob"], meta["name"], meta["format"])

    def _id_for(self, session: str | None, blob: str, name: str) -> str:
        message = json.dumps(["dataset", session or "", blob, name], separators=(",", ":")).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _issue(self, session: str | None, blob: str, name: str, fmt: str) -> str:
        dataset_id = self._id_for(session, blob, name)
        meta = self.root / "datasets" / f"{dataset_id}.json"
        if not meta.exists():
            _atomic_write(meta, json.dumps({"name": name, "format": fmt, "blob": blob}).encode())
        return dataset_id

    def _meta(self, dataset_id: str) -> dict:
        path = self.root / "datasets" / f"{check_id(dataset_id)}.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            raise UnknownIdError(f"no dataset {dataset_id[:12]}… in this store") from None
        check_id(meta.get("blob"))
        return meta

    def dataset(self, dataset_id: str) -> Dataset:
        meta = self._meta(dataset_id)
        blob = self.root / "blobs" / f"{meta['blob']}.raw"
        if not blob.exists():
            raise UnknownIdError(f"the data of dataset {dataset_id[:12]}… is no longer stored: upload the file again")
        _mark_used(blob)
        return _read_parsed(blob, meta["format"], meta["name"])

    def dataset_name(self, dataset_id: str) -> str:
        return self._meta(dataset_id)["name"]

    def content_key(self, dataset_id: str) -> str:
        """A key for what is computed from this dataset's data: the same for every session (and
        every id) opening the same bytes in the same format."""
        meta = self._meta(dataset_id)
        return make_key("content", meta["blob"], meta["format"])

    def may_open(self, session: str | None, dataset_id: str) -> bool:
        """True when ``dataset_id`` is browser session ``session``'s own id (it uploaded the
        data, or was given it as the first dataset)."""
        if not session:
            return False
        try:
            meta = self._meta(dataset_id)
        except UnknownIdError:
            return False
        return hmac.compare_digest(dataset_id, self._id_for(session, meta["blob"], meta["name"]))

    # -- upkeep ---------------------------------------------------------------------------------
    def recover(self, now: float | None = None) -> list[Path]:
        """Remove what an interrupted write left (at start-up): temporary files older than
        :data:`STALE_TEMPORARY_S`, and dataset ids whose bytes are gone. Returns the removed paths."""
        now = time.time() if now is None else now
        removed = []
        for folder in FOLDERS:
            for path in (self.root / folder).iterdir():
                if path.suffix == ".tmp" and now - _mtime(path) > STALE_TEMPORARY_S:
                    path.unlink(missing_ok=True)
                    removed.append(path)
        for path, blob in self._descriptions():
            if not (self.root / "blobs" / f"{blob}.raw").exists():
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def tidy(self, max_bytes: int, max_age_s: float) -> tuple[list[Path], dict]:
        """:meth:`recover`, then :meth:`collect_garbage`: what the server does at start-up and
        ``structure-explorer gc`` does on demand."""
        return self.recover(), self.collect_garbage(max_bytes, max_age_s)

    def _descriptions(self) -> list[tuple[Path, str]]:
        """(path, blob) of every dataset id."""
        found = []
        for path in (self.root / "datasets").glob("*.json"):
            try:
                found.append((path, str(json.loads(path.read_text())["blob"])))
            except (OSError, ValueError, KeyError, TypeError):
                found.append((path, ""))
        return found

    def collect_garbage(self, max_bytes: int, max_age_s: float, now: float | None = None) -> dict:
        """Keep the folder under ``max_bytes`` and drop entries unused for ``max_age_s``: derived
        arrays and models first, least recently used first (every read marks an entry used);
        datasets only when the derived entries alone cannot bring it under the cap. Everything
        removed can be recomputed, or uploaded again. Returns counts and bytes removed."""
        now = time.time() if now is None else now
        derived = [p for folder in ("arrays", "models") for p in (self.root / folder).iterdir() if p.suffix != ".tmp"]
        blobs = list((self.root / "blobs").glob("*.raw"))
        entries = [(p, _mtime(p), _size(p), False) for p in derived] + [(p, _mtime(p), _size(p), True) for p in blobs]
        total = sum(size for _, _, size, _ in entries)
        removed = {"files": 0, "bytes": 0, "datasets": 0}

        ids_of: dict[str, list[Path]] = {}
        for path, blob in self._descriptions():
            ids_of.setdefault(blob, []).append(path)

        def drop(path, size, is_dataset):
            nonlocal total
            path.unlink(missing_ok=True)
            if is_dataset:  # the data, and every id that opened it
                for description in ids_of.get(path.stem, []):
                    description.unlink(missing_ok=True)
                removed["datasets"] += 1
            removed["files"] += 1
            removed["bytes"] += size
            total -= size

        # derived entries (oldest use first), then datasets
        for path, used, size, is_dataset in sorted(entries, key=lambda e: (e[3], e[1])):
            if now - used > max_age_s or total > max_bytes:
                drop(path, size, is_dataset)
        return removed

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


#: parsed datasets kept per process (each can take hundreds of MB)
_PARSED_KEPT = 4
_parsed: collections.OrderedDict = collections.OrderedDict()
_parsed_guard = threading.Lock()


def _remember_parsed(key: tuple, dataset: Dataset) -> None:
    with _parsed_guard:
        _parsed[key] = dataset
        _parsed.move_to_end(key)
        while len(_parsed) > _PARSED_KEPT:
            _parsed.popitem(last=False)


def _read_parsed(blob: Path, fmt: str, name: str) -> Dataset:
    """Parse a stored file once per process (a blob never changes under its hash)."""
    key = (blob.stem, fmt, name)
    with _parsed_guard:
        if key in _parsed:
            _parsed.move_to_end(key)
            return _parsed[key]
    # already checked against the upload limit when it was added (decompressed size included)
    dataset = read_dataset(blob.read_bytes(), format=fmt or None, name=name, max_bytes=TRUSTED_MAX_BYTES)
    _remember_parsed(key, dataset)
    return dataset


def _server_key(path: Path) -> bytes:
    """The server's secret for dataset ids: made once, by the first process on this folder."""
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(secrets.token_bytes(32))
    except FileExistsError:
        pass
    for _ in range(100):  # another process may be writing it right now
        key = path.read_bytes()
        if len(key) == 32:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is not a 32-byte key: remove it (every dataset id will change)")
