"""One settings object for the app, built from command-line arguments and ``EXPLORER_*`` variables.

Precedence: an argument given on the command line, then the environment variable, then the
default. The variables are ``EXPLORER_DATASET``, ``EXPLORER_HOST``, ``EXPLORER_PORT``,
``EXPLORER_DATA_DIR``, ``EXPLORER_BACKEND``, ``EXPLORER_MAX_UPLOAD_MB``, ``EXPLORER_TOKEN``,
``EXPLORER_MAX_STORE_GB``, ``EXPLORER_MAX_AGE_DAYS``, ``EXPLORER_MAX_REQUEST_MB``, ``EXPLORER_TRUSTED_PROXIES``
and ``EXPLORER_REDIS_URL``. (The budgets of :mod:`compute.budget`
have their own ``EXPLORER_*`` variables, read where they are checked.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKENDS = ("auto", "numba", "cupy")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ENV_PREFIX = "EXPLORER_"
MIN_TOKEN_BYTES = 16


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting and what to do."""


def default_data_dir() -> Path:
    """Per-user cache folder for uploads and computed arrays (``$XDG_CACHE_HOME`` honoured)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "structure-explorer"


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know to start.

    ``dataset`` is the file opened at start (``None``: the bundled sample dataset).
    ``token`` is required when ``host`` is not a loopback address.
    """

    dataset: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8050
    data_dir: Path = field(default_factory=default_data_dir)
    backend: str = "auto"
    max_upload_mb: float = 200
    token: str | None = None
    #: jobs on Celery workers through this Redis (``structure-explorer worker``); None: in-process
    redis_url: str | None = None
    #: the data folder's size cap and age limit (least recently used derived arrays go first)
    max_store_gb: float = 20
    max_age_days: float = 30
    #: the body of any request other than a dataset upload (a callback's inputs and states: a
    #: selection of 10⁵ rows is ~1 MB); larger bodies are refused before they are read
    max_request_mb: float = 8
    #: reverse proxies in front of the app whose X-Forwarded-* headers are believed (0: none)
    trusted_proxies: int = 0

    def __post_init__(self) -> None:
        # normalise types so that settings built from strings (environment) and from code agree
        if self.dataset is not None:
            object.__setattr__(self, "dataset", Path(self.dataset).expanduser())
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if self.token == "":
            object.__setattr__(self, "token", None)
        if not self.redis_url:
            object.__setattr__(self, "redis_url", None)
        elif not str(self.redis_url).startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"redis_url must start with redis://, rediss:// or unix://, got {str(self.redis_url)[:40]!r}")
        try:
            port = int(self.port)
        except (TypeError, ValueError):
            raise SettingsError(f"port must be an integer, got {self.port!r}") from None
        if not 0 <= port <= 65535:
            raise SettingsError(f"port must be between 0 and 65535, got {port}")
        object.__setattr__(self, "port", port)
        for name in ("max_upload_mb", "max_store_gb", "max_age_days", "max_request_mb"):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise SettingsError(f"{name} must be a number, got {getattr(self, name)!r}") from None
            if not value > 0:
                raise SettingsError(f"{name} must be positive, got {value}")
            object.__setattr__(self, name, value)
        try:
            proxies = int(self.trusted_proxies)
        except (TypeError, ValueError):
            raise SettingsError(f"trusted_proxies must be a whole number, got {self.trusted_proxies!r}") from None
        if not 0 <= proxies <= 10:
            raise SettingsError(f"trusted_proxies must be between 0 and 10, got {proxies}")
        object.__setattr__(self, "trusted_proxies", proxies)
        if self.token is not None:
            token = str(self.token).strip()
            if len(token.encode()) < MIN_TOKEN_BYTES:
                raise SettingsError(f"the access token must be at least {MIN_TOKEN_BYTES} characters long (a random one: "
                                    "python -c 'import secrets; print(secrets.token_urlsafe(24))')")
            object.__setattr__(self, "token", token)
        if self.backend not in BACKENDS:
            raise SettingsError(f"backend must be one of {', '.join(BACKENDS)}; got {self.backend!r}")
        if not self.host:
            raise SettingsError("host must not be empty")

    @property
    def is_local(self) -> bool:
        """True when the server only listens on the loopback interface."""
        return self.host in LOCAL_HOSTS

    @property
    def requires_token(self) -> bool:
        return not self.is_local

    @property
    def max_store_bytes(self) -> int:
        return int(self.max_store_gb * 1e9)

    @property
    def max_age_s(self) -> float:
        return self.max_age_days * 86400.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_upload_request_bytes(self) -> int:
        """The request that carries an upload: base64 makes it 4/3 larger, plus the callback's
        JSON; files above the limit but below this still reach the reader, whose message names the
        file and the limit."""
        return int(self.max_upload_bytes * 1.4) + 1_000_000

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 1024 * 1024)

    def check_can_serve(self) -> None:
        """Refuse settings that must not start a server (another host without a token)."""
        if self.requires_token and not self.token:
            raise SettingsError(
                f"serving on host {self.host!r} exposes the app beyond this machine: give an access "
                "token with --token or the EXPLORER_TOKEN environment variable (or use --host 127.0.0.1)"
            )

    @classmethod
    def from_sources(cls, args: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from parsed arguments (``None`` values mean "not given") and the environment."""
        args = dict(args or {})
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = args.get(f.name)
            if value is None:
                value = environ.get(ENV_PREFIX + f.name.upper())
                if value is not None and value.strip() == "" and f.name != "token":
                    value = None
            if value is not None:
                values[f.name] = value
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.from_sources(None, environ)
