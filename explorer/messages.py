"""The status line: one channel every panel writes through, and the messages it shows.

:func:`say` puts a message in the status line (``status-message``) from any callback, in the web
process or in a job, with ``dash.set_props``: no callback declares the status line as an output,
so no panel needs ``allow_duplicate`` for it and none writes another panel's ids to speak.
Messages are plain text for what went well, a styled span for what went wrong: errors carry the
``status-error`` class (colour and a warning icon, see ``assets/style.css``) so a user tells them
from progress news at a glance; tests find them by that class.
"""

from __future__ import annotations

from dash import html, set_props

#: the status line's id (a contract id: users' scripts and the tests read it)
STATUS = "status-message"


def say(message) -> None:
    """Show ``message`` (text or :func:`error`) in the status line; "" clears it."""
    set_props(STATUS, {"children": message})


def error(text: str) -> html.Span:
    """A status-line message styled as an error."""
    return html.Span([html.Span("⚠", className="status-icon", **{"aria-hidden": "true"}), str(text)], className="status-error")


def text_of(message) -> str:
    """The plain text of a message built by this module (or of a plain string)."""
    if isinstance(message, str):
        return message
    children = getattr(message, "children", None)
    if isinstance(children, list):
        return "".join(text_of(c) for c in children if not (getattr(c, "className", "") == "status-icon"))
    return "" if children is None else text_of(children)
