"""compute.descriptors.DESCRIPTORS, the list the app's dropdown and `featurize --descriptor` are
built from: every entry takes the common hyperparameters and its declared extras, describes the
extras for an input form, names every column it computes, and is made by make_descriptor."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from compute.descriptors import COMMON_HYPERS, DESCRIPTORS, extra_hypers, make_descriptor

from .conftest import small_periodic_cells

SMALL = dict(cutoff=3.5, n_max=2, l_max=1, density_width=0.4)


def test_the_registered_descriptors():
    assert {"soap", "radial", "bispectrum", "lambda-soap", "soap-lode"} <= set(DESCRIPTORS)
    for name, (label, cls) in DESCRIPTORS.items():
        assert isinstance(label, str) and label
        parameters = inspect.signature(cls.__init__).parameters
        assert set(COMMON_HYPERS) | {"smoothing_width", "center_weight", "species"} <= set(parameters), name
        for extra in extra_hypers(name):
            field, field_label, low, high, step, default = extra
            assert field in parameters and field not in COMMON_HYPERS, (name, field)
            assert isinstance(field_label, str) and low <= default <= high and step > 0, (name, extra)
    assert [e[0] for e in extra_hypers("bispectrum")] == ["compression"]
    assert [e[0] for e in extra_hypers("soap-lode")] == ["smearing", "exponent"]
    assert extra_hypers("soap") == extra_hypers("lambda-soap") == ()


@pytest.mark.parametrize("name", list(DESCRIPTORS))
def test_each_computes_named_columns_with_its_extras_at_their_defaults(name):
    """What the app does: common fields + the extras' defaults -> make_descriptor -> compute."""
    frames = small_periodic_cells(salt=True)  # periodic: soap-lode takes nothing else
    calculator = make_descriptor(name, **SMALL, **{field: default for field, *_, default in extra_hypers(name)})
    assert not getattr(calculator, "needs_fit", False)  # every default computes without a fit
    species = calculator.species_for(frames)
    for per, n_rows in (("atom", sum(len(a) for a in frames)), ("structure", len(frames))):
        values = calculator.compute(frames, per=per, backend="numpy")
        assert values.shape == (n_rows, calculator.n_features(len(species)))
        assert np.isfinite(values).all()
    names = calculator.feature_names(species)
    assert len(names) == values.shape[1] == len(set(names))
    for field in COMMON_HYPERS:
        assert getattr(calculator, field) == SMALL[field]


def test_the_compressed_bispectrum_from_the_registry_must_be_fitted():
    frames = small_periodic_cells(salt=True)
    calculator = make_descriptor("bispectrum", **SMALL, compression=4)
    assert calculator.needs_fit
    rows = calculator.fit(frames, backend="numpy").compute(frames, per="structure", backend="numpy")
    assert rows.shape[1] == calculator.n_features(4) == len(calculator.feature_names(calculator.species_for(frames)))


def test_make_descriptor_refuses_what_it_does_not_know():
    with pytest.raises(ValueError, match="unknown descriptor 'magic'"):
        make_descriptor("magic")
    with pytest.raises(ValueError, match="'soap' takes no hyperparameter compression"):
        make_descriptor("soap", compression=3)
    with pytest.raises(ValueError, match="'lambda-soap' takes no hyperparameter smearing"):
        make_descriptor("lambda-soap", smearing=1.0)
