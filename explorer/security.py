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

    trusts_proxies = bool(getattr(server, "explorer_trusted_proxies", 0))

    @server.before_request
    def _require_loopback():
        # a reverse proxy on this machine makes every visitor look like loopback: without a proxy
        # declared (EXPLORER_TRUSTED_PROXIES), a forwarded request is refused, not trusted
        forwarded = flask.request.headers.get("Forwarded") or flask.request.headers.get("X-Forwarded-For")
        if forwarded and not trusts_proxies:
            return flask.Response(
                "This request came through a proxy, and this structure-explorer has no access token: set "
                "EXPLORER_TOKEN (and EXPLORER_TRUSTED_PROXIES to the number of proxies in front of it).\n",
                status=403,
                mimetype="text/plain",
            )
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


#: the route every Dash callback posts to
_CALLBACK_ROUTE = "/_dash-update-component"
#: how much of a large callback request is read to learn which callback it is for
_PEEK_BYTES = 4096


def install_request_limits(app, max_request_bytes: int, max_upload_request_bytes: int, upload_inputs=("upload-dataset.contents",)) -> None:
    """Refuse request bodies over ``max_request_bytes`` before reading them, except the callback
    requests that carry an upload (an input in ``upload_inputs``), which may reach
    ``max_upload_request_bytes``.

    Why: a callback's JSON is parsed whole into Python objects (a 280 MB body of nested lists
    takes many GB); only an upload needs a large body. Which callback a request is for is known
    from its first key (the renderer writes ``{"output": ...`` first), so only the first
    4 KB of a large body are read to decide; a body without a declared length is refused.
    """
    import json
    import re

    output_key = re.compile(rb'^\s*\{\s*"output"\s*:\s*("(?:[^"\\]|\\.)*")')
    large_outputs: set[str] | None = None
    inner = app.server.wsgi_app

    def outputs_taking_uploads() -> set[str]:
        return {output for output, spec in app.callback_map.items()
                if {f"{item.get('id')}.{item.get('property')}" for item in spec.get("inputs", [])} & set(upload_inputs)}

    def refuse(start_response, status: str, message: str):
        body = json.dumps({"error": message}).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def limited(environ, start_response):
        nonlocal large_outputs
        if environ.get("REQUEST_METHOD") not in ("POST", "PUT", "PATCH"):
            return inner(environ, start_response)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():  # (a length given beside it does not count)
            return refuse(start_response, "411 Length Required", "a request body must declare its length")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refuse(start_response, "400 Bad Request", "the request's Content-Length is not a number")
        if length <= max_request_bytes:
            return inner(environ, start_response)
        too_large = f"the request body is {length:,} bytes, over the limit of {max_request_bytes:,} (the setting EXPLORER_MAX_REQUEST_MB changes it)"
        if not environ.get("PATH_INFO", "").endswith(_CALLBACK_ROUTE) or length > max_upload_request_bytes:
            return refuse(start_response, "413 Request Entity Too Large", too_large)
        stream = environ["wsgi.input"]
        head = stream.read(min(_PEEK_BYTES, length))
        match = output_key.match(head)
        if large_outputs is None:
            large_outputs = outputs_taking_uploads()
        try:
            output = json.loads(match.group(1)) if match else None
        except ValueError:
            output = None
        if output not in large_outputs:
            return refuse(start_response, "413 Request Entity Too Large", too_large)
        environ["wsgi.input"] = _Prefixed(head, stream)
        return inner(environ, start_response)

    app.server.wsgi_app = limited


class _Prefixed:
    """A request body stream whose first bytes were already read (and are given back first)."""

    def __init__(self, head: bytes, rest):
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._rest.read(size - len(data))
            return data
        return self._rest.read(size)

    def readline(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.readline(size)
        limit = len(self._head) if size is None or size < 0 else min(size, len(self._head))
        end = self._head.find(b"\n", 0, limit)
        if end >= 0 or limit == size:
            cut = end + 1 if end >= 0 else limit
            data, self._head = self._head[:cut], self._head[cut:]
            return data
        data, self._head = self._head, b""
        return data + self._rest.readline(-1 if size is None or size < 0 else size - len(data))

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


def install_trusted_proxies(server, count: int) -> None:
    """Take the client's address, scheme and host from the ``X-Forwarded-*`` headers set by the
    ``count`` reverse proxies in front of the app (and from nothing else: without this, those
    headers are ignored, and in no-token mode refused)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    server.wsgi_app = ProxyFix(server.wsgi_app, x_for=count, x_proto=count, x_host=count)
    server.explorer_trusted_proxies = count
