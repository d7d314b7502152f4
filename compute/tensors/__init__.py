r"""Learning vectors and symmetric tensors with features that rotate like them (λ-SOAP).

A Cartesian target is split into its irreducible spherical parts (``cartesian_to_spherical``):
a vector is one λ=1 part; a symmetric 3×3 tensor (a polarizability) is a λ=0 part (its trace/3,
scaled to unit norm below) and a λ=2 part (its traceless part). Each part is learned from the
(λ, σ=+1) block of :class:`compute.descriptors.EquivariantPowerSpectrum`, so predictions rotate
(and reflect) exactly as the target does, and are sums of atomic contributions:

* :class:`TensorRidge` (:mod:`._linear`): a linear ridge on the features, one weight per feature
  shared by the 2λ+1 components;
* :class:`TensorKernelRidge` (:mod:`._kernel`): SA-GPR, kernel ridge with the λ-SOAP kernel
  x_i x_jᵀ · k_0(i, j)^{ζ−1}, exact or on an active set of atomic environments.

Both take targets per structure or per atom (``per``), pick their regularisation per λ by
cross-validation over structures, and share ``fit`` / ``predict`` / ``features`` /
``fit_features`` / ``predict_features`` / ``predict_atoms``. :func:`tensor_learning_curve` and
:func:`tensor_out_of_fold` (:mod:`._curves`) run them over splits of a data set.
"""

from ._curves import TENSOR_MODELS, make_tensor_model, tensor_learning_curve, tensor_out_of_fold
from ._kernel import AtomicFeatures, TensorKernelRidge, structure_kernel
from ._linear import TensorRidge, take_rows
from ._spherical import cartesian_to_spherical, ellipsoids, spherical_to_cartesian, symmetric_matrices

__all__ = ["cartesian_to_spherical", "spherical_to_cartesian", "symmetric_matrices", "ellipsoids", "TensorRidge",
           "TensorKernelRidge", "AtomicFeatures", "structure_kernel", "take_rows", "TENSOR_MODELS", "make_tensor_model",
           "tensor_learning_curve", "tensor_out_of_fold"]
