"""Status-line messages: plain text for what went well, a styled span for what went wrong.

Errors carry the ``status-error`` class (colour and a warning icon, see ``assets/style.css``) so a
user tells them from progress news at a glance; tests find them by that class.
"""

from __future__ import annotations

from dash import html


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
