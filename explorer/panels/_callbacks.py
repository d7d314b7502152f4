"""Callbacks recorded where they are written and registered on an app explicitly.

Each panel module writes ``callbacks = Callbacks()`` and decorates its callback functions with
``@callbacks.server(...)`` (or calls ``callbacks.clientside(...)``) exactly as it would with
``dash.callback``; nothing is registered at import. ``explorer.app.create_app`` calls
``panels.register(app)``, which registers every panel's callbacks on that app only: two apps in
one process (the tests make many) never share a callback, and importing a panel to test its
functions registers nothing. The functions stay plain module-level functions (a job process finds
them again by module and name, see ``explorer.jobs``).
"""

from __future__ import annotations


class Callbacks:
    """The callbacks of one panel, registered on an app by :meth:`register`."""

    def __init__(self):
        self._server: list[tuple] = []
        self._clientside: list[tuple] = []

    def server(self, *args, **kwargs):
        """Decorator with ``dash.callback``'s arguments; returns the function unchanged."""

        def record(function):
            self._server.append((function, args, kwargs))
            return function

        return record

    def clientside(self, *args, **kwargs) -> None:
        """``dash.clientside_callback``'s arguments, registered later."""
        self._clientside.append((args, kwargs))

    def register(self, app) -> None:
        for function, args, kwargs in self._server:
            app.callback(*args, **kwargs)(function)
        for args, kwargs in self._clientside:
            app.clientside_callback(*args, **kwargs)
