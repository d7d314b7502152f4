"""Where callbacks find the server-side store, and the ids of the browser-side state stores.

Workers (the web server's threads and the background-job processes) build the store from the
``EXPLORER_*`` environment, which ``create_app`` fills from its settings before any worker
starts; so there is no mutable module state and any number of processes can serve one user.
"""

from __future__ import annotations

import os

from .settings import Settings
from .store import Store

#: dcc.Store ids (browser side: ids and settings only, never arrays)
DATASET = "dataset-state"  # {"id", "name"}
FEATURES = "features-state"  # {"key", "dataset", "per", "n_rows", "n_features", "hypers"}
MAP = "map-state"  # {"key", "model", "features", "method", "axis_titles", "target", "mixing"}
SELECTION = "selection-state"  # {"rows": [...], "source": "lasso"|"cluster"|"fps"|"click"}
CLUSTERS = "cluster-state"  # {"key", "method", "n_clusters"}
PREDICTIONS = "prediction-state"  # {"key", "target", "features"}


def export_settings(settings: Settings) -> None:
    """Make the settings visible to every worker process (read back by :func:`current_settings`)."""
    os.environ["EXPLORER_DATA_DIR"] = str(settings.data_dir)
    os.environ["EXPLORER_BACKEND"] = settings.backend
    os.environ["EXPLORER_MAX_UPLOAD_MB"] = str(settings.max_upload_mb)
    # uploads are untrusted: no native parser that a malformed file could crash in the web
    # process (compute.formats.extxyz); a deployment that trusts its users may set it to 1
    os.environ.setdefault("EXPLORER_NATIVE_XYZ", "0")


def current_settings() -> Settings:
    return Settings.from_env()


def current_store() -> Store:
    return Store(current_settings().data_dir)


def triggered() -> set[str]:
    """Ids of every component whose change fired the running callback.

    Not ``dash.ctx.triggered_id``: that is only the *first* of them, and when the renderer
    coalesces changes (a new map and the selection it clears arrive together) a callback that
    looked at the first alone took a new map for "only the selection changed" and never drew it.
    """
    from dash import ctx

    return {prop_id.rpartition(".")[0] for prop_id in ctx.triggered_prop_ids}
