"""gdtx.ewma on a plain series: the sources' 30-day temperature example."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import gdtx

TEMPERATURES = 10 * np.random.default_rng(0).standard_normal(30)


def _loop(ys, beta, *, debias=False, start="zero"):
    """The textbook loop in float64: S₁ = Y₁ ("first") or S₀ = 0 ("zero")."""
    out, s = [], 0.0
    for t, y in enumerate(ys, 1):
        s = y if (start == "first" and t == 1) else beta * s + (1 - beta) * y
        out.append(s / (1 - beta**t) if debias else s)
    return np.array(out)


@pytest.mark.parametrize("beta", [0.5, 0.9])
@pytest.mark.parametrize(("debias", "start"), [(False, "zero"), (True, "zero"), (False, "first")])
def test_ewma_matches_the_textbook_loop(beta, debias, start):
    got = gdtx.ewma(jnp.asarray(TEMPERATURES, jnp.float32), beta, debias=debias, start=start)
    np.testing.assert_allclose(
        got, _loop(TEMPERATURES, beta, debias=debias, start=start), rtol=1e-5, atol=1e-5
    )


def test_larger_beta_is_smoother():
    rough = np.abs(np.diff(np.asarray(gdtx.ewma(jnp.asarray(TEMPERATURES), 0.5)))).mean()
    smooth = np.abs(np.diff(np.asarray(gdtx.ewma(jnp.asarray(TEMPERATURES), 0.9)))).mean()
    assert smooth < rough


def test_debiased_average_of_a_constant_is_the_constant():
    np.testing.assert_allclose(gdtx.ewma(jnp.full(50, 3.0), 0.9, debias=True), 3.0, rtol=1e-6)


def test_ewma_weights_sum_to_one_over_the_window():
    """The weights (1−β)βᵏ behind "about 1/(1−β) days": a unit impulse, then decay."""
    impulse = jnp.zeros(200).at[0].set(1.0)
    weights = np.asarray(gdtx.ewma(impulse, 0.9))
    np.testing.assert_allclose(weights[:5], 0.1 * 0.9 ** np.arange(5), rtol=1e-6)
    assert weights[:10].sum() == pytest.approx(1 - 0.9**10, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": 1.0}, "beta"),
        ({"beta": -0.1}, "beta"),
        ({"beta": 0.5, "start": "last"}, "start"),
        ({"beta": 0.5, "start": "first", "debias": True}, "debias"),
    ],
)
def test_ewma_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gdtx.ewma(jnp.ones(3), **kwargs)
