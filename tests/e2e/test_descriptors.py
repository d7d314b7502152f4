"""Choosing another descriptor in the page, as a user does: the map is made of it, and the address
keeps the choice."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def _type_number(page, element_id: str, value) -> None:
    field = page.locator(f"#{element_id}")
    field.fill(str(value))
    field.press("Tab")


def test_the_bispectrum_map_of_the_sample(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    compression = page.locator("#descriptors-compression")
    assert not compression.is_visible()  # SOAP has no compression to set
    app.choose("descriptors-kind", "bispectrum (ν = 3)")
    compression.wait_for(state="visible")  # the bispectrum's own setting appears with it
    assert not page.locator("#descriptors-smearing").is_visible()
    _type_number(page, "descriptors-n-max", 2)
    _type_number(page, "descriptors-l-max", 2)
    _type_number(page, "descriptors-compression", 3)  # NICE: 3 combinations per λ kept
    page.locator("#descriptors-compute").click()
    info = app.wait_for_map(lambda i: "bispectrum (ν = 3)" in i["title"], what="the bispectrum map")
    app.assert_one_point_per_row(info, 985)
    page.wait_for_function("() => location.search.includes('descriptor=bispectrum') && location.search.includes('compression=3')")
    app.choose("descriptors-kind", "SOAP power spectrum (ν = 2)")
    compression.wait_for(state="hidden")
    assert not app.errors, app.errors


def test_compare_descriptors_tab(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    app.open_tab("Compare descriptors")
    app.choose("compare-descriptor", "radial spectrum (ν = 1)")
    page.locator("#compare-run").click()
    page.locator("#compare-table").wait_for(timeout=180_000)
    text = page.locator("#compare-table").inner_text()
    assert "SOAP power spectrum (ν = 2) → radial spectrum (ν = 1)" in text and "GFRE" in text
    assert "Compared on 985 rows" in app.status()
    assert not app.errors, app.errors
