r"""Newton–Schulz iterations for the orthogonal polar factor of a stack of matrices.

Two ways to compute the same polynomial iteration: on the matrices themselves
(standard), or on their small Gram matrices (Gram form), which needs fewer products
for wide matrices. :class:`~gdtx.Orthogonalize` (Muon) calls :func:`newton_schulz`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._base import compute_dtype, hyper
from ._validate import check_positive_int

NS_COEFFS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "standard": ((3.4445, -4.7750, 2.0315),),
    "dion": (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}
"""Named coefficient sets: Jordan's quintic (a, b, c), used at every step, and the five
per-step triples of Ahn et al. (2025, "Dion", arXiv:2504.05295), as Optax names them."""

NS_METHODS = ("standard", "gram")
"""The ways :func:`newton_schulz` can run the iteration."""

GRAM_RESTART = 2
"""The Gram form rebuilds X and its Gram matrix every this many steps (Dao AI Lab, 2026,
"Gram Newton-Schulz: A Fast, Hardware-Aware Newton-Schulz Algorithm for Muon":
restarting bounds the rounding error that the Gram matrix accumulates). Every two
steps, the Gram form stayed as close to exact arithmetic as the standard form over up
to 12 steps, in float32 and bfloat16, on matrices of rank 1 to full and condition
numbers up to 1e6 (tests/test_matrix_optim.py checks 5 and 8 steps); one restart only,
after the second of five steps, let bfloat16 iterations, and float32 ones of ten steps
or more on ill-conditioned matrices, diverge."""


def ns_coefficients(owner: str, ns_coeffs: Any, ns_steps: Any) -> tuple[tuple[Any, ...], ...]:
    """One (a, b, c) triple per Newton–Schulz step, from ``ns_coeffs`` and ``ns_steps``."""
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS:
            raise ValueError(
                f"{owner}: `ns_coeffs` must be one of {sorted(NS_COEFFS)} or numbers, "
                f"got {ns_coeffs!r}."
            )
        ns_coeffs = NS_COEFFS[ns_coeffs]
    rows = tuple(ns_coeffs)
    if rows and not isinstance(rows[0], tuple | list):
        rows = (rows,)
    if not rows or any(len(r) != 3 for r in rows):
        raise ValueError(
            f"{owner}: `ns_coeffs` must be three numbers (a, b, c) or one triple per step, "
            f"got {ns_coeffs!r}."
        )
    if len(rows) == 1:
        check_positive_int(owner, "ns_steps", ns_steps)
        rows = rows * ns_steps
    return tuple(tuple(r) for r in rows)


def check_ns_method(owner: str, ns_method: Any) -> str:
    """``ns_method``, checked to be one of :data:`NS_METHODS`."""
    if ns_method not in NS_METHODS:
        raise ValueError(f"{owner}: `ns_method` must be one of {NS_METHODS}, got {ns_method!r}.")
    return ns_method


def _segments(steps: int) -> list[int]:
    """The Gram form's runs of steps between restarts: :data:`GRAM_RESTART` each, and the
    remainder."""
    runs = [GRAM_RESTART] * (steps // GRAM_RESTART)
    return [*runs, steps % GRAM_RESTART] if steps % GRAM_RESTART else runs


def gram_pays(rows: int, cols: int, steps: int) -> bool:
    """Whether the Gram form needs fewer multiply-adds than the standard one for r × c
    matrices with r ≤ c.

    Standard: 2r²c + r³ per step. Gram: a run of n steps between restarts costs
    (4n − 3)r³ and 2r²c (its Gram matrix and the closing product). For 5 steps (runs
    of 2, 2 and 1) the Gram form pays once c > 1.5r, and for c = 4r it needs a fifth
    fewer.
    """
    r, c = rows, cols
    standard = steps * (2 * r * r * c + r**3)
    gram = sum((4 * n - 3) * r**3 + 2 * r * r * c for n in _segments(steps))
    return gram < standard


def _gram_steps(x: jax.Array, coeffs: Sequence[tuple[Any, ...]], ct: Any) -> jax.Array:
    r"""The steps of ``coeffs`` on X₀ = ``x`` (wide), in Gram form (Dao AI Lab, 2026).

    Each step is X ← p(A) X with p(A) = aI + bA + cA² and A = XXᵀ. Writing X_k = Q_k X₀,
    the steps act on r × r matrices alone:

    $$ P = aI + bA + cA^2, \qquad Q \leftarrow P\,Q, \qquad A \leftarrow P A P $$

    (P is a polynomial in A, so P A Pᵀ = P A P is the next X Xᵀ), and X = Q X₀ at the
    end. Every :data:`GRAM_RESTART` steps X is formed and A recomputed from it.
    """
    eye = jnp.broadcast_to(jnp.eye(x.shape[-2], dtype=ct), (*x.shape[:-1], x.shape[-2]))
    done = 0
    for n in _segments(len(coeffs)):
        gram = x @ jnp.swapaxes(x, -1, -2)  # A = X Xᵀ
        q = None
        for i, (a, b, c) in enumerate(coeffs[done : done + n]):
            p = hyper(a, ct) * eye + hyper(b, ct) * gram + hyper(c, ct) * (gram @ gram)
            q = p if q is None else p @ q  # Q ← P Q
            if i < n - 1:
                gram = p @ gram @ p  # A ← P A P
        assert q is not None
        x = q @ x  # X = Q X₀
        done += n
    return x


def newton_schulz(
    x: jax.Array, coeffs: Any, eps: Any, dtype: Any = None, method: str = "standard"
) -> jax.Array:
    r"""Orthogonalises each matrix of a stack ``x`` of shape ``(k, r, c)``.

    $$ X_0 = \frac{G}{\lVert G\rVert_F + \varepsilon}, \qquad
       A = X X^\top, \qquad X \leftarrow a X + (b A + c A^2) X $$

    once per (a, b, c) of ``coeffs`` (Jordan et al., 2024). A matrix with more rows
    than columns is iterated as its transpose (the smaller Gram matrix; the
    polynomial commutes with transposition). ``method="gram"`` computes the same
    iteration in Gram form (:func:`_gram_steps`) for the shapes where that needs
    fewer products (:func:`gram_pays`); the results agree to rounding. Computed in
    ``dtype`` (default: at least float32), returned in ``x``'s dtype.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from gdtx._newton_schulz import NS_COEFFS, newton_schulz
        >>> g = jax.random.normal(jax.random.key(0), (1, 4, 64))
        >>> coeffs = NS_COEFFS["standard"] * 5
        >>> x = newton_schulz(g, coeffs, 1e-8)
        >>> y = newton_schulz(g, coeffs, 1e-8, method="gram")
        >>> bool(jnp.allclose(x, y, atol=1e-5))
        True
    """
    check_ns_method("newton_schulz", method)
    ct = jnp.dtype(dtype) if dtype is not None else compute_dtype(x.dtype)
    wide = x.shape[-2] <= x.shape[-1]
    y = x.astype(ct) if wide else jnp.swapaxes(x, -1, -2).astype(ct)
    norm = jnp.sqrt(jnp.sum(y * y, axis=(-2, -1), keepdims=True))
    y = y / (norm + hyper(eps, ct))  # X₀ = G/(‖G‖_F + ε)
    if method == "gram" and gram_pays(y.shape[-2], y.shape[-1], len(coeffs)):
        y = _gram_steps(y, coeffs, ct)
    else:
        for a, b, c in coeffs:
            gram = y @ jnp.swapaxes(y, -1, -2)  # A = X Xᵀ
            poly = hyper(b, ct) * gram + hyper(c, ct) * (gram @ gram)  # bA + cA²
            y = hyper(a, ct) * y + poly @ y  # X ← aX + (bA + cA²)X
    y = y if wide else jnp.swapaxes(y, -1, -2)
    return y.astype(x.dtype)
