"""Command line and settings: parsing, environment, token rule, featurize delegation, serving."""

import importlib.util
import sys
import types
import urllib.error
import urllib.request

import pytest

from explorer import cli
from explorer.resources import default_dataset_path
from explorer.settings import Settings, SettingsError, default_data_dir

SAMPLE = default_dataset_path()


def test_defaults():
    s = cli.parse_settings([], environ={})
    assert s == Settings()
    assert s.dataset is None
    assert (s.host, s.port, s.backend, s.max_upload_mb, s.token) == ("127.0.0.1", 8050, "auto", 200, None)
    assert s.data_dir == default_data_dir()
    assert s.is_local and not s.requires_token


def test_arguments(tmp_path):
    s = cli.parse_settings(
        [str(SAMPLE), "--port", "9001", "--data-dir", str(tmp_path), "--backend", "numba", "--max-upload-mb", "50", "--token", "t0k-0123456789abcdef"],
        environ={},
    )
    assert s.dataset == SAMPLE
    assert s.port == 9001
    assert s.data_dir == tmp_path
    assert s.backend == "numba"
    assert s.max_upload_mb == 50 and s.max_upload_bytes == 50 * 1024 * 1024
    assert s.token == "t0k-0123456789abcdef"


def test_environment_and_precedence(tmp_path):
    env = {
        "EXPLORER_PORT": "9100",
        "EXPLORER_HOST": "0.0.0.0",
        "EXPLORER_TOKEN": "secret-0123456789abcdef",
        "EXPLORER_BACKEND": "cupy",
        "EXPLORER_DATA_DIR": str(tmp_path),
        "EXPLORER_MAX_UPLOAD_MB": "12.5",
        "EXPLORER_DATASET": str(SAMPLE),
    }
    s = cli.parse_settings([], environ=env)
    assert (s.port, s.host, s.token, s.backend, s.data_dir, s.max_upload_mb, s.dataset) == (
        9100, "0.0.0.0", "secret-0123456789abcdef", "cupy", tmp_path, 12.5, SAMPLE,
    )
    # a command-line argument wins over the environment
    s = cli.parse_settings(["--port", "9200", "--backend", "numba"], environ=env)
    assert (s.port, s.backend, s.host) == (9200, "numba", "0.0.0.0")


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["--backend", "opencl"], {}, "invalid choice"),
        (["--port", "http"], {}, "invalid int"),
        ([], {"EXPLORER_PORT": "99999"}, "port must be between"),
        ([], {"EXPLORER_BACKEND": "numpy-ish"}, "backend must be one of"),
        ([], {"EXPLORER_MAX_UPLOAD_MB": "-1"}, "max_upload_mb must be positive"),
        (["/no/such/file.xyz"], {}, "is not a file"),
    ],
)
def test_bad_values_exit_2(argv, env, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_settings(argv, environ=env)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org"])
def test_token_required_for_non_local_host(host, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_settings(["--host", host], environ={})
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--token" in err and "EXPLORER_TOKEN" in err
    # given on the command line or in the environment, it starts
    assert cli.parse_settings(["--host", host, "--token", "abc-0123456789abcdef"], environ={}).token == "abc-0123456789abcdef"
    assert cli.parse_settings(["--host", host], environ={"EXPLORER_TOKEN": "abc-0123456789abcdef"}).requires_token


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_local_host_needs_no_token(host):
    assert not cli.parse_settings(["--host", host], environ={}).requires_token


def test_create_app_refuses_non_local_host_without_token():
    from explorer.app import create_app

    with pytest.raises(SettingsError, match="token"):
        create_app(Settings(host="0.0.0.0"))


def test_featurize_is_delegated(monkeypatch):
    calls = []
    fake = types.ModuleType("compute.featurize")

    def fake_main(argv):
        calls.append(list(argv))
        return 7

    fake.main = fake_main
    monkeypatch.setitem(sys.modules, "compute.featurize", fake)
    rest = ["in.xyz", "-o", "out.npz", "--per", "structure", "--host", "x"]
    assert cli.main(["featurize", *rest]) == 7
    assert calls == [rest]


@pytest.mark.skipif(importlib.util.find_spec("compute.featurize") is None, reason="compute.featurize not written yet")
def test_featurize_help_from_the_real_module(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["featurize", "--help"])
    assert exc.value.code == 0
    assert "-o" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# the app object, without a browser (Flask test client)


@pytest.fixture(scope="module")
def sample_app_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sample-app")


@pytest.fixture(scope="module")
def sample_app(sample_app_dir):
    from explorer.app import create_app

    return create_app(Settings(data_dir=sample_app_dir))


CONTRACT_IDS = ("upload-dataset", "status-message", "map-graph", "structure-viewer", "export-selection",
                "export-format", "color-by", "projection-method", "mixing-slider", "target-property")


def test_app_serves_layout_and_assets(sample_app):
    client = sample_app.server.test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert b"<title>Structure-property explorer</title>" in page.data
    assert b"/assets/style.css" in page.data
    css = client.get("/assets/style.css")
    assert css.status_code == 200 and b".status-message" in css.data
    layout = client.get("/_dash-layout").get_json()
    ids = _ids(layout)
    for needed in (*CONTRACT_IDS, "dataset-summary", "dataset-state"):
        assert needed in ids, needed
    # the page opens on the bundled sample: the browser holds its id and name only, never its data
    dataset_state = ids["dataset-state"]["data"]
    assert dataset_state["name"] == "small_molecules-1000.xyz"
    assert len(dataset_state["id"]) == 64 and set(dataset_state["id"]) <= set("0123456789abcdef")
    assert sample_app.server.config["MAX_CONTENT_LENGTH"] >= 200 * 1024 * 1024


def test_app_summary_callback_describes_the_sample(sample_app, sample_app_dir, monkeypatch):
    """What the page fills in from the dataset state: 985 structures of the sample."""
    from explorer.panels import dataset

    monkeypatch.setenv("EXPLORER_DATA_DIR", str(sample_app_dir))  # where workers find the store

    ids = _ids(sample_app.server.test_client().get("/_dash-layout").get_json())
    from explorer import state

    children, rows, columns, _ = dataset.dataset_view(state.current_store(), ids["dataset-state"]["data"], None, None)
    text = str(children)
    assert "small_molecules-1000" in text and "985" in text and "17,743" in text
    assert len(rows) == 985 and any(c["headerName"] == "dft_formation_energy_per_atom_in_eV" for c in columns)


def _ids(layout) -> dict:
    """id -> props of every component of a ``/_dash-layout`` answer."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and isinstance(props.get("id"), str):
                found[props["id"]] = props
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(layout)
    return found


def test_bad_dataset_on_the_command_line_is_refused_naming_it(tmp_path):
    from compute.datasets import DatasetError
    from explorer.app import create_app

    bad = tmp_path / "broken.xyz"
    bad.write_text("3\nnot a comment line that parses\nC 0 0\n")
    with pytest.raises(DatasetError, match="broken.xyz"):
        create_app(Settings(dataset=bad, data_dir=tmp_path / "data"))


def test_without_a_token_only_this_machine_is_answered(sample_app, tmp_path):
    """A WSGI server may bind anywhere (gunicorn -b 0.0.0.0): with no token the app itself refuses
    every request that does not come from loopback."""
    client = sample_app.server.test_client()
    for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):  # the last: gunicorn -b [::]
        assert client.get("/_dash-layout", environ_base={"REMOTE_ADDR": address}).status_code == 200, address
    for address in ("10.1.2.3", "192.168.0.7", "2001:db8::1", ""):
        response = client.get("/_dash-layout", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 403 and b"EXPLORER_TOKEN" in response.data, address
    # with a token the token decides, from any address
    from explorer.app import create_app

    remote = create_app(Settings(host="0.0.0.0", token="s3cret-0123456789abcdef", data_dir=tmp_path))
    client = remote.server.test_client()
    headers = {"Authorization": "Bearer s3cret-0123456789abcdef"}
    assert client.get("/_dash-layout", headers=headers, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_token_checked_on_every_request(tmp_path):
    from explorer.app import create_app
    from explorer.security import TOKEN_COOKIE

    app = create_app(Settings(host="0.0.0.0", token="s3cret-0123456789abcdef", data_dir=tmp_path))
    client = app.server.test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/assets/style.css"):
        assert client.get(path).status_code == 401, path
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    # the right token once: redirected to a clean address with a cookie, then everything works
    first = client.get("/?token=s3cret-0123456789abcdef")
    assert first.status_code == 302 and "token" not in first.headers["Location"]
    assert TOKEN_COOKIE in first.headers["Set-Cookie"] and "HttpOnly" in first.headers["Set-Cookie"]
    assert "s3cret-0123456789abcdef" not in first.headers["Set-Cookie"]
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    # a bearer header works without a cookie
    fresh = app.server.test_client()
    assert fresh.get("/_dash-layout", headers={"Authorization": "Bearer s3cret-0123456789abcdef"}).status_code == 200
    assert fresh.get("/_dash-layout", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_cli_serves_the_sample_dataset(serve_app):
    """``structure-explorer`` with no dataset, as a real process, answers over HTTP."""
    url, log = serve_app([])
    with urllib.request.urlopen(url + "_dash-layout", timeout=10) as response:
        body = response.read().decode()
    assert "small_molecules-1000" in body and '"map-graph"' in body
    assert "serving on http://127.0.0.1:" in log.read_text()


def test_cli_with_token_refuses_requests_without_it(serve_app):
    url, _ = serve_app(["--host", "127.0.0.1", "--token", "tok-0123456789abcdef"])
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url, timeout=10)
    assert exc.value.code == 401
    request = urllib.request.Request(url + "_dash-layout", headers={"Authorization": "Bearer tok-0123456789abcdef"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_cli_refuses_to_start_on_other_host_without_token(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--host", "0.0.0.0"])
    assert exc.value.code == 2
    assert "token" in capsys.readouterr().err



def test_without_a_token_other_host_names_and_origins_are_refused(sample_app):
    """DNS rebinding (a page on attacker.example resolving its name to 127.0.0.1) and cross-site
    posts reach loopback with a foreign Host or Origin: refused."""
    client = sample_app.server.test_client()
    for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050", "localhost"):
        assert client.get("/_dash-layout", headers={"Host": host}).status_code == 200, host
    for host in ("attacker.example", "attacker.example:8050", "localhost.attacker.example", "10.0.0.1:8050"):
        response = client.get("/_dash-layout", headers={"Host": host})
        assert response.status_code == 403 and b"refused" in response.data, host
    assert client.post("/_dash-update-component", json={}, headers={"Origin": "http://attacker.example"}).status_code == 403
    assert client.post("/_dash-update-component", json={}, headers={"Origin": "null"}).status_code == 403
    # the app's own page posting to itself
    assert client.get("/_dash-layout", headers={"Origin": "http://127.0.0.1:8050"}).status_code == 200


def test_tokens_are_long_and_their_cookie_expires(tmp_path):
    import time

    from explorer.security import TOKEN_COOKIE_MAX_AGE_S, _token_cookie, _token_cookie_valid

    for weak in (" ", "short", "x" * 15):
        with pytest.raises(SettingsError, match="at least 16 characters"):
            Settings(host="0.0.0.0", token=weak)
    token = "s3cret-0123456789abcdef"
    now = time.time()
    assert _token_cookie_valid(token, _token_cookie(token, int(now)), now)
    assert not _token_cookie_valid(token, _token_cookie(token, int(now - TOKEN_COOKIE_MAX_AGE_S - 1)), now)
    assert not _token_cookie_valid("another-0123456789abcdef", _token_cookie(token, int(now)), now)
    assert not _token_cookie_valid(token, "garbage", now)


def test_gc_subcommand_trims_the_data_folder(tmp_path, capsys):
    import os
    import time

    import numpy as np

    from explorer.store import Store, make_key

    store = Store(tmp_path)
    key = make_key("old")
    store.save_arrays(key, x=np.zeros(10))
    old = time.time() - 40 * 86400
    os.utime(tmp_path / "arrays" / f"{key}.npz", (old, old))
    assert cli.main(["gc", "--data-dir", str(tmp_path)]) == 0
    assert not store.has_arrays(key)
    assert "removed 0 leftovers of interrupted writes, 1 entries (0 datasets)" in capsys.readouterr().out


def test_a_server_killed_mid_upload_restarts_on_the_same_folder(serve_app, tmp_path):
    """SIGKILL while an upload's body is arriving (and leftovers of an interrupted write in the
    folder): the next server on the same folder starts, cleans up and serves."""
    import os
    import signal
    import socket
    import time
    from urllib.parse import urlsplit

    url, _ = serve_app([])
    server = serve_app.processes[-1]
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(f"POST /_dash-update-component HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 50000000\r\n\r\n".encode() + b'{"output": "' + b"x" * 2_000_000)
        time.sleep(0.5)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    leftover = tmp_path / "data" / "blobs" / "tmpcrash.tmp"
    leftover.write_bytes(b"half an upload")
    old = time.time() - 2 * 3600
    os.utime(leftover, (old, old))
    url, _ = serve_app([])
    with urllib.request.urlopen(url + "_dash-layout", timeout=10) as response:
        assert response.status == 200 and b"small_molecules-1000" in response.read()
    assert not leftover.exists()


def test_proxies_are_trusted_only_when_declared(sample_app, tmp_path):
    """Behind a reverse proxy on this machine every visitor arrives from loopback: without a
    declared proxy a forwarded request is refused (no token), with one the forwarded client
    address decides."""
    from explorer.app import create_app

    client = sample_app.server.test_client()
    response = client.get("/_dash-layout", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403 and b"EXPLORER_TRUSTED_PROXIES" in response.data
    assert client.get("/_dash-layout", headers={"Forwarded": "for=203.0.113.9"}).status_code == 403

    behind = create_app(Settings(data_dir=tmp_path, trusted_proxies=1)).server.test_client()
    assert behind.get("/_dash-layout", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert behind.get("/_dash-layout", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    with pytest.raises(SettingsError, match="trusted_proxies"):
        Settings(trusted_proxies="many")


def test_the_app_reads_uploads_without_the_native_xyz_parser(tmp_path, monkeypatch):
    """A native parser crash would take the web process down: the app turns it off unless the
    deployment says otherwise."""
    from compute.formats.extxyz import NATIVE_XYZ_VARIABLE, native_parser_enabled
    from explorer.app import create_app

    monkeypatch.delenv(NATIVE_XYZ_VARIABLE, raising=False)
    assert native_parser_enabled()  # a script reading its own files
    create_app(Settings(data_dir=tmp_path / "a"))
    assert not native_parser_enabled()
    monkeypatch.setenv(NATIVE_XYZ_VARIABLE, "1")
    create_app(Settings(data_dir=tmp_path / "b"))
    assert native_parser_enabled()
