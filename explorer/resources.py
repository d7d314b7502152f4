"""Where the app's static files and bundled sample datasets are.

The design card keeps ``assets/`` and ``sample_datasets/`` at the top of the repository.
``pyproject.toml`` maps them into the wheel as the data packages ``explorer.assets`` and
``explorer.sample_datasets``, so the two layouts to support are:

* an installed wheel: ``site-packages/explorer/assets/`` next to this module;
* a checkout (editable install, or ``python -m pytest`` from the repository root):
  ``<repo>/assets/``, the sibling of the ``explorer/`` package folder. setuptools' editable
  finder maps only top-level packages, so ``import explorer.assets`` does *not* work there and
  ``importlib.resources`` cannot be relied on; plain paths can.

Both layouts are real folders on disk, which is what Dash's ``assets_folder`` needs.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

#: The dataset ``structure-explorer`` opens when it is given none.
DEFAULT_DATASET = "small_molecules-1000.xyz"

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    candidates = [
        _PACKAGE_DIR / name,  # installed wheel: explorer/<name>
        _PACKAGE_DIR.parent / name,  # checkout / editable install: <repo>/<name>
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    try:  # any other importer that exposes the data package as real files
        traversable = importlib.resources.files(f"explorer.{name}")
        path = Path(str(traversable))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError(
        f"cannot find the {name!r} folder of structure-explorer (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall the package or run from a complete checkout"
    )


def assets_dir() -> Path:
    """Folder of the CSS/JS files that Dash serves (``assets_folder``)."""
    return _data_dir("assets")


def sample_datasets_dir() -> Path:
    """Folder of the bundled sample datasets."""
    return _data_dir("sample_datasets")


def default_dataset_path() -> Path:
    """The bundled dataset opened when ``structure-explorer`` is started without one."""
    path = sample_datasets_dir() / DEFAULT_DATASET
    if not path.is_file():
        raise FileNotFoundError(f"the bundled sample dataset {path} is missing; reinstall structure-explorer")
    return path
