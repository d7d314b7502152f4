"""Access token for a server reachable from other machines.

When the app listens on a host other than loopback, every request must carry the token:
``?token=...`` once (it is then kept in an HTTP-only cookie and removed from the address), or an
``Authorization: Bearer ...`` header.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

TOKEN_COOKIE = "explorer_token"
TOKEN_QUERY = "token"




def _token_digest(token: str) -> str:
    """Value kept in the cookie: derived from the token so the token itself is not stored."""
    return hmac.new(token.encode(), b"structure-explorer-session", hashlib.sha256).hexdigest()


def install_token_check(server, token: str) -> None:
    """Require ``token`` on every request of the Flask ``server``.

    Accepted: ``?token=<token>`` (answered with a redirect that drops it from the address and sets
    an HTTP-only cookie), the cookie, or an ``Authorization: Bearer <token>`` header.
    Anything else gets 401.
    """
    import flask

    expected_cookie = _token_digest(token)

    @server.before_request
    def _require_token():
        request = flask.request
        given = request.args.get(TOKEN_QUERY)
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _unauthorized()
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != TOKEN_QUERY]
            location = request.path + ("?" + urlencode(rest) if rest else "")
            response = flask.redirect(location, code=303 if request.method != "GET" else 302)
            response.set_cookie(TOKEN_COOKIE, expected_cookie, httponly=True, samesite="Strict", secure=request.is_secure)
            return response
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), expected_cookie.encode()):
            return None
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return None
        return _unauthorized()


def _unauthorized():
    import flask

    return flask.Response(
        "This structure-explorer needs its access token: open the address printed when it started "
        "(it ends in ?token=...), or send 'Authorization: Bearer <token>'.\n",
        status=401,
        mimetype="text/plain",
    )


def install_loopback_only(server) -> None:
    """Without a token, answer only this machine (127.0.0.0/8, ::1).

    ``structure-explorer`` binds to 127.0.0.1 unless given a token, but a WSGI server
    (``gunicorn -b 0.0.0.0:... explorer.wsgi:server``) binds wherever it is told: this check keeps
    an app without a token from serving the network whatever the bind address.
    """
    import ipaddress

    import flask

    @server.before_request
    def _require_loopback():
        try:
            local = ipaddress.ip_address(flask.request.remote_addr or "").is_loopback
        except ValueError:
            local = False
        if not local:
            return flask.Response(
                "This structure-explorer has no access token, so it only answers requests from its own "
                "machine. Set EXPLORER_TOKEN (or --token) to serve other machines.\n",
                status=403,
                mimetype="text/plain",
            )
        return None


#: cookie naming this browser's session (which uploads it may open again: a reload, a link)
SESSION_COOKIE = "explorer_session"


def install_session_cookie(server) -> None:
    """Give every browser an unguessable session id in an HTTP-only cookie (set on its first
    request); :func:`current_session` reads it back in callbacks."""
    import secrets

    import flask

    @server.before_request
    def _session():
        value = flask.request.cookies.get(SESSION_COOKIE, "")
        if len(value) < 32 or len(value) > 64 or not value.replace("-", "").replace("_", "").isalnum():
            flask.g.explorer_new_session = value = secrets.token_urlsafe(32)
        flask.g.explorer_session = value

    @server.after_request
    def _set_session(response):
        new = getattr(flask.g, "explorer_new_session", None)
        if new:
            response.set_cookie(SESSION_COOKIE, new, httponly=True, samesite="Lax", secure=flask.request.is_secure,
                                max_age=30 * 24 * 3600)
        return response


def current_session() -> str | None:
    """The browser session of the request being answered (None outside a request)."""
    import flask

    if not flask.has_request_context():
        return None
    return getattr(flask.g, "explorer_session", None)
