"""Access token for a server reachable from other machines.

When the app listens on a host other than loopback, every request must carry the token:
``?token=...`` once (it is then kept in an HTTP-only cookie and removed from the address), or an
``Authorization: Bearer ...`` header.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode, urlsplit

TOKEN_COOKIE = "explorer_token"
TOKEN_QUERY = "token"




#: how long the token's cookie opens the app before the token must be given again
TOKEN_COOKIE_MAX_AGE_S = 7 * 24 * 3600


def _token_cookie(token: str, issued: int) -> str:
    """The cookie's value: its issue time and an HMAC of it under the token (the token itself is
    never stored in the browser, and an old cookie stops working)."""
    digest = hmac.new(token.encode(), f"structure-explorer-session:{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{digest}"


def _token_cookie_valid(token: str, value: str, now: float) -> bool:
    issued, _, _ = value.partition(".")
    if not issued.isdigit() or not 0 <= now - int(issued) <= TOKEN_COOKIE_MAX_AGE_S:
        return False
    return hmac.compare_digest(value.encode(), _token_cookie(token, int(issued)).encode())


def install_token_check(server, token: str) -> None:
    """Require ``token`` on every request of the Flask ``server``.

    Accepted: ``?token=<token>`` (answered with a redirect that drops it from the address and sets
    an HTTP-only cookie), the cookie, or an ``Authorization: Bearer <token>`` header.
    Anything else gets 401.
    """
    import time

    import flask

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
            response.set_cookie(TOKEN_COOKIE, _token_cookie(token, int(time.time())), httponly=True, samesite="Strict",
                                secure=request.is_secure, max_age=TOKEN_COOKIE_MAX_AGE_S)
            return response
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie is not None and _token_cookie_valid(token, cookie, time.time()):
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
    import flask

    @server.before_request
    def _require_loopback():
        if not is_loopback_address(flask.request.remote_addr):
            return flask.Response(
                "This structure-explorer has no access token, so it only answers requests from its own "
                "machine. Set EXPLORER_TOKEN (or --token) to serve other machines.\n",
                status=403,
                mimetype="text/plain",
            )
        # a page on another site can make the browser call us through its own name (DNS rebinding)
        # or post to us (cross-site requests): only loopback names, and only our own pages
        host = flask.request.host or ""
        if not is_loopback_name(host):
            return flask.Response(f"Host {host[:80]!r} refused: without an access token this structure-explorer answers "
                                  "only 127.0.0.1, localhost and [::1].\n", status=403, mimetype="text/plain")
        origin = flask.request.headers.get("Origin")
        if origin is not None and (origin == "null" or not is_loopback_name(urlsplit(origin).netloc)):
            return flask.Response(f"Origin {origin[:80]!r} refused: requests must come from this app's own pages.\n",
                                  status=403, mimetype="text/plain")
        return None


def is_loopback_address(address: str | None) -> bool:
    """127.0.0.0/8 and ::1, also as an IPv4-mapped IPv6 address (``gunicorn -b [::]``)."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def is_loopback_name(host: str) -> bool:
    """A Host header (name[:port]) that names this machine's loopback interface."""
    if host.startswith("["):  # [IPv6]:port
        name = host[1:host.index("]")] if "]" in host else host
    elif host.count(":") == 1:  # name:port
        name = host.partition(":")[0]
    else:  # a bare name, or a bare IPv6 address
        name = host
    name = name.lower().rstrip(".")
    return name in ("localhost", "::1") or is_loopback_address(name)


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


def install_security_headers(app) -> None:
    """Headers on every response: a Content-Security-Policy that lets the page load and connect
    to this server only (no third-party origin; the page's own inline scripts by their hashes;
    ``'unsafe-eval'`` because plotly's WebGL code compiles its drawing functions at run time),
    no framing by other sites, no MIME sniffing, and no Referer sent to other sites."""
    policy = None

    @app.server.after_request
    def _headers(response):
        nonlocal policy
        if policy is None:  # every callback (and its inline script) is registered by the first request
            hashes = " ".join(app.csp_hashes())  # already quoted: 'sha256-...'
            policy = ("default-src 'self'; "
                      f"script-src 'self' 'unsafe-eval' {hashes}; "
                      "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
                      "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
                      "form-action 'self'; frame-ancestors 'none'")
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: Dash's layout request names the page (and its view) in its Referer
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response
