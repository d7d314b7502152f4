"""Every public estimator of ``compute`` against scikit-learn's estimator checks.

As scikit-matter's ``tests/test_check_estimators.py``: ``parametrize_with_checks`` runs the
installed scikit-learn's API and legacy checks on each instance below. Known failures are declared
by the estimator itself (``_expected_failed_checks``, each with its reason) and passed to
scikit-learn's ``expected_failed_checks``, so a waiver lives next to the code it excuses; the
checks of the default instances are all expected to pass.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from compute.decomposition import PCA, KernelPCA, KernelPCovR, PCovR
from compute.models import KernelRidgeModel, RidgeModel, SparseKernelRidgeModel
from compute.selection import CUR, FPS, PCovCUR, PCovFPS

ESTIMATORS = [
    RidgeModel(),
    KernelRidgeModel(),
    KernelRidgeModel(kernel="precomputed"),
    SparseKernelRidgeModel(),
    SparseKernelRidgeModel(kernel="precomputed"),
    PCA(),
    KernelPCA(),
    KernelPCA(kernel="precomputed"),
    PCovR(),
    KernelPCovR(),
    KernelPCovR(n_active=5),
    KernelPCovR(kernel="precomputed"),
    # selectors on both axes: "features" is scikit-learn's feature selector contract,
    # "samples" (the default) selects rows
    *(cls(axis=axis) for cls in (FPS, CUR, PCovFPS, PCovCUR) for axis in ("features", "samples")),
]


def _expected_failed_checks(estimator):
    return getattr(estimator, "_expected_failed_checks", dict)()


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_waivers_are_few_and_explained():
    """Only the instances that cannot meet a check declare it, each with a written reason."""
    waived = {repr(e): _expected_failed_checks(e) for e in ESTIMATORS}
    for name, checks in waived.items():
        for check, reason in checks.items():
            assert check.startswith("check_") and len(reason) > 40, (name, check)
    assert {name for name, checks in waived.items() if checks} == {
        "KernelPCovR(kernel='precomputed')",
        *(f"{cls.__name__}()" for cls in (FPS, CUR, PCovFPS, PCovCUR)),  # axis="samples" is the default
    }

