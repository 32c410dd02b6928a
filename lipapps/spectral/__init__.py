"""Operator norms: float64 values rounded outward for certificates, provable bounds for training.

Three kinds of quantity live here, and they are never confused (dense maps in
:mod:`lipapps.spectral.dense`, convolutions in :mod:`lipapps.spectral.conv`):

* norms exact up to float64 rounding (:func:`matrix_norm`, :func:`circular_conv_norm`,
  :func:`conv_norm_certificate`), each raised by a stated bound on its rounding error
  (:mod:`lipapps.rounding`), so a true upper bound: what :func:`lipapps.certify` reports;
* provable upper bounds cheap enough for every training step (:func:`certified_matrix_bounds`,
  :func:`conv_gram_bound`, :func:`conv_grid_bound`): used to keep the constraint, computed by
  an adaptive algorithm on the CPU and a sync-free one on accelerators (:mod:`lipapps.spectral.sync`);
* Krylov (Lanczos) estimates, which are *lower* bounds: only ever used as a starting guess that a
  provable check then confirms or replaces.
"""

from lipapps.spectral.conv import (
    CERTIFICATE_GRIDS,
    CONV_GRID,
    GRID_RETRY_FREQUENCIES,
    GRID_SLACK,
    circular_conv_norm,
    conv_gram_bound,
    conv_gram_kernel,
    conv_grid_bound,
    conv_norm_certificate,
    conv_perron_bound,
    conv_training_bound,
    grid_slack,
    grid_vectors,
    perron_vector_,
    proved_grid_bound,
    sync_free_grid_bound,
)
from lipapps.spectral.dense import (
    DIRECT_EIGENVALUE_SIZE,
    FAST_SLACK,
    LANCZOS_STEPS,
    POWER_SLACKS,
    SYNC_FREE_LANCZOS_STEPS,
    SYNC_FREE_SQUARINGS,
    certified_matrix_bounds,
    gram_bound_holds,
    lanczos_top_,
    matrix_norm,
    sync_free_matrix_bounds,
    training_matrix_bounds,
    workspace,
)
from lipapps.spectral.sync import sync_free, uses_sync_free

__all__ = [
    "CERTIFICATE_GRIDS",
    "CONV_GRID",
    "DIRECT_EIGENVALUE_SIZE",
    "FAST_SLACK",
    "GRID_RETRY_FREQUENCIES",
    "GRID_SLACK",
    "LANCZOS_STEPS",
    "POWER_SLACKS",
    "SYNC_FREE_LANCZOS_STEPS",
    "SYNC_FREE_SQUARINGS",
    "certified_matrix_bounds",
    "circular_conv_norm",
    "conv_gram_bound",
    "conv_gram_kernel",
    "conv_grid_bound",
    "conv_norm_certificate",
    "conv_perron_bound",
    "conv_training_bound",
    "gram_bound_holds",
    "grid_slack",
    "grid_vectors",
    "lanczos_top_",
    "matrix_norm",
    "perron_vector_",
    "proved_grid_bound",
    "sync_free",
    "sync_free_grid_bound",
    "sync_free_matrix_bounds",
    "training_matrix_bounds",
    "uses_sync_free",
    "workspace",
]
