"""The app in a real headless Chromium (Debian's), started as ``structure-explorer`` would be."""

import pytest

pytestmark = pytest.mark.browser


def test_sample_dataset_summary_shown(app_url, browser_page):
    page = browser_page
    page.goto(app_url)
    summary = page.locator("#dataset-summary")
    summary.wait_for()

    assert "small_molecules-1000" in page.locator("#dataset-name").inner_text()
    assert page.title() == "Structure-property explorer"

    status = page.locator("#status-message")
    assert status.count() == 1
    assert "985" in status.inner_text()

    structures = page.locator("#summary-structures .value").inner_text()
    assert structures == "985"
    atoms = page.locator("#summary-atoms .value").inner_text()
    assert atoms.replace(",", "") == "17743"
    elements = page.locator("#summary-elements .value").inner_text()
    assert set(e.strip() for e in elements.split(",")) == {"C", "H", "N", "O"}
    assert page.locator("#summary-periodic .value").inner_text() in ("non-periodic", "no")

    # the first rows of the structure-property table, with the formation energy column
    table = page.locator("#property-preview table")
    assert "dft_formation_energy_per_atom_in_eV" in table.inner_text()
    assert table.locator("tbody tr").count() == 10


def test_assets_served(app_url, browser_page):
    """style.css comes from explorer.resources.assets_dir() and is applied."""
    page = browser_page
    page.goto(app_url)
    page.locator("#dataset-summary").wait_for()
    hrefs = page.eval_on_selector_all("link[rel=stylesheet]", "els => els.map(e => e.href)")
    assert any("/assets/style.css" in h for h in hrefs), hrefs
    display = page.eval_on_selector(".explorer-header", "el => getComputedStyle(el).display")
    assert display == "flex"
