"""The proximal operators of the penalties: elementwise maps of the scalar
:func:`fastloss.losses.penalties.prox_elastic`, run by :func:`fastloss._dispatch.map_call`
(serial, parallel or CUDA, ``out=`` in place)."""

from __future__ import annotations

import numpy as np

from . import _arrays as A
from ._dispatch import map_call
from .losses import penalties


def _prox(w, t, l1_ratio, out, backend):
    if isinstance(t, (bool, np.bool_)) or not isinstance(
        t, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"t must be a real number, got {t!r}")
    t = A.check_finite_scalar(t, "t")
    if t < 0:
        raise ValueError(f"t must be >= 0 (a step size times the penalty's weight), got {t!r}")
    return map_call(penalties.prox_elastic, w, t * l1_ratio, 1.0 + t * (1.0 - l1_ratio), out=out,
                    backend=backend, name="w")


def prox_l1(w, t, *, out=None, backend=None):
    r"""Soft thresholding: the proximal operator of ``t * l1_penalty``.

    .. math::

        \operatorname{prox}_{t\lVert\cdot\rVert_1}(w)_i = \operatorname{sign}(w_i)
        \max(|w_i| - t, 0)

    Parameters
    ----------
    w : array_like
        Weights (any shape); float32 and float64 are computed natively (``t`` is rounded
        to that dtype first, as NumPy does with a Python float).
    t : float
        The threshold, ``>= 0`` and finite (in proximal gradient descent: the step size
        times the L1 weight).
    out : ndarray, optional
        Where to write the result (C-contiguous, shape and dtype of ``w``); may be ``w``
        itself: an in-place update that allocates nothing.
    backend : {None, 'auto', 'serial', 'parallel', 'cuda'}
        Overrides the current backend for this call (CUDA inputs go to ``'cuda'``).

    Returns
    -------
    ndarray
        The thresholded weights (``out`` when given). Weights with ``|w_i| <= t`` become
        exactly ``+0.0``; NaN stays NaN.

    References
    ----------
    .. [1] N. Parikh and S. Boyd, *Proximal Algorithms*, Foundations and Trends in
       Optimization 1(3), 2014, section 6.5.2.
    .. [2] D. L. Donoho, *De-noising by soft-thresholding*, IEEE Trans. Inf. Theory 41(3),
       1995.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.prox_l1([3.0, -0.5, 1.0], 1.0)
    array([2., 0., 0.])
    """
    return _prox(w, t, 1.0, out, backend)


def prox_elastic_net(w, t, l1_ratio=0.5, *, out=None, backend=None):
    r"""The proximal operator of ``t * elastic_net(l1_ratio)``: soft thresholding, then
    shrinkage.

    .. math::

        \operatorname{prox}(w)_i = \frac{\operatorname{sign}(w_i)\max(|w_i| - t\rho, 0)}
        {1 + t(1 - \rho)}, \quad \rho = \text{l1\_ratio}

    Parameters
    ----------
    w : array_like
        Weights (any shape); float32 and float64 are computed natively.
    t : float
        The step, ``>= 0`` and finite.
    l1_ratio : float, default 0.5
        In ``[0, 1]``: 1 gives :func:`prox_l1`, 0 the ridge shrinkage ``w / (1 + t)``.
    out : ndarray, optional
        Where to write the result (C-contiguous, shape and dtype of ``w``); may be ``w``.
    backend : {None, 'auto', 'serial', 'parallel', 'cuda'}
        Overrides the current backend for this call (CUDA inputs go to ``'cuda'``).

    Returns
    -------
    ndarray
        The result (``out`` when given).

    References
    ----------
    .. [1] N. Parikh and S. Boyd, *Proximal Algorithms*, 2014, section 6.5.3.
    .. [2] H. Zou and T. Hastie, *Regularization and variable selection via the elastic
       net*, J. R. Statist. Soc. B 67 (2005).

    Examples
    --------
    >>> import fastloss
    >>> fastloss.prox_elastic_net([3.0, -0.5], 1.0, l1_ratio=0.5)
    array([1.66666667, 0.        ])
    """
    r = penalties.elastic_net.params[0].check(l1_ratio)
    return _prox(w, t, r, out, backend)
