"""Packaging: assets/ and sample_datasets/ are found from a checkout and from a built wheel;
the README's Quick start and .ci/run agree."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import resources

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_resources_from_current_install():
    assets = resources.assets_dir()
    assert (assets / "style.css").is_file()
    datasets = resources.sample_datasets_dir()
    assert (datasets / "README.md").is_file()
    default = resources.default_dataset_path()
    assert default.name == "small_molecules-1000.xyz" and default.parent == datasets
    assert default.stat().st_size > 100_000


def _quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    assert section, "README.md has no '## Quick start' section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), flags=re.S)
    assert len(blocks) == 1, "Quick start must have exactly one bash block"
    return [line.strip() for line in blocks[0].splitlines() if line.strip()]


def test_readme_quick_start_has_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    install_and_run, install_and_test = commands
    assert "pip install" in install_and_run and install_and_run.endswith("structure-explorer")
    assert ".[test]" in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command():
    ci = REPO_ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    text = ci.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert "chromium" in text and "DEBIAN_FRONTEND=noninteractive" in text and "apt-get update" in text
    lines = [line.strip() for line in text.splitlines()]
    test_command = _quick_start_commands()[1]
    assert test_command in lines, f".ci/run does not run the README's test command {test_command!r}"
    assert [l for l in lines if l and not l.startswith("#")][-1] == test_command, "the test command must come last"
    subprocess.run(["bash", "-n", str(ci)], check=True)


def _copy_source_tree(destination: Path) -> None:
    """The files git would ship (tracked and untracked-not-ignored), without build leftovers."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.mark.slow
def test_built_wheel_ships_assets_and_sample_datasets(tmp_path):
    """Build a real wheel, install it (no deps) into a fresh venv, find the files from there."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the source files")
    source = tmp_path / "src"
    _copy_source_tree(source)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(wheels)],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("structure_explorer-*.whl")
    # every package of the checkout is in the wheel (the packages list is explicit)
    import zipfile

    shipped = {Path(name).parent.as_posix() for name in zipfile.ZipFile(wheel).namelist() if name.endswith("/__init__.py")}
    packages = {init.parent.relative_to(REPO_ROOT).as_posix() for top in ("compute", "explorer")
                for init in (REPO_ROOT / top).rglob("__init__.py") if "__pycache__" not in init.parts}
    assert packages <= shipped, f"packages missing from the wheel (pyproject's packages list): {sorted(packages - shipped)}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    probe = (
        "import explorer, explorer.resources as r; "
        "print(explorer.__file__); print(r.assets_dir()); print(r.sample_datasets_dir()); "
        "print(r.default_dataset_path()); print((r.assets_dir() / 'style.css').is_file()); "
        # the structure viewer's page side (chemiscope's own script comes from the installed chemiscope)
        "print((r.assets_dir() / 'structure_viewer.js').is_file())"
    )
    # run from an empty folder, isolated (-I), so the checkout cannot be imported by accident
    result = subprocess.run([str(python), "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    package, assets, datasets, default, has_css, has_viewer = result.stdout.split("\n")[:6]
    site = Path(package).parent
    assert "site-packages" in package
    assert Path(assets) == site / "assets"
    assert Path(datasets) == site / "sample_datasets"
    assert Path(default) == site / "sample_datasets" / "small_molecules-1000.xyz"
    assert Path(default).stat().st_size == resources.default_dataset_path().stat().st_size
    assert has_css == "True" and has_viewer == "True"


BROWSER_RULE_TESTS = '''
import pytest

@pytest.mark.browser
def test_skipped_in_body():
    pytest.skip("no display")

@pytest.mark.browser
@pytest.mark.skipif(True, reason="conditional")
def test_skipped_by_marker():
    pass

@pytest.mark.browser
def test_needs_chromium(chromium_browser):
    pass

def test_plain_skip_is_fine():
    pytest.skip("not a browser test")
'''


@pytest.mark.parametrize("allow", [False, True])
def test_skipped_browser_tests_fail_unless_allowed(tmp_path, allow):
    """The rule of tests/conftest.py, run on a small suite: a skipped browser test fails CI."""
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    browser: browser\n")
    (tmp_path / "test_rule.py").write_text(BROWSER_RULE_TESTS)
    env = {**os.environ, "EXPLORER_CHROMIUM": str(tmp_path / "no-chromium")}
    for inherited in ("EXPLORER_SKIP_BROWSER", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(inherited, None)
    if allow:
        env["EXPLORER_SKIP_BROWSER"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    out = result.stdout + result.stderr
    if allow:
        assert result.returncode == 0, out
        assert "4 skipped" in out, out
    else:
        assert result.returncode == 1, out
        assert "1 skipped" in out, out  # only the non-browser skip stays a skip
        assert "browser tests are mandatory" in out
        assert "Chromium not found at" in out
        summary = [line for line in result.stdout.splitlines() if re.search(r" in [\d.]+s", line)][-1]
        counts = {word: int(n) for n, word in re.findall(r"(\d+) (failed|errors?|skipped|passed)", summary)}
        assert counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0) == 3, out
