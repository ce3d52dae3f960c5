"""What the registry's trajectories cannot show about the Adam variants: RAdam's two
threshold conventions, and a scheduled EWMA's refusal of a bias correction."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import gdtx


def test_radam_threshold_is_inclusive_by_default_and_strict_on_request():
    """Optax rectifies once ρ_t ≥ ρ_thr, torch once ρ_t > 5: at ρ_t = ρ_thr exactly, only
    the inclusive test passes (the first step it passes returns r_t·x instead of 1).

    r_t is also computed independently in float64 from Liu et al. (2020): ρ∞ = 2/(1 − β₂)
    − 1, ρ_t = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ), r_t = √((ρ_t − 4)(ρ_t − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρ_t)), at
    β₂ as float32 holds it. gdtx's float32 ρ_t = ρ∞ − (ρ∞ − ρ_t) loses digits to the
    cancellation (ρ∞ ≈ 2000, ρ₁₀ ≈ 10; 2.1e-4 off here), which moves r_t by 2.1e-5
    relative: hence rtol 5e-5 against float64."""
    count = jnp.int32(9)
    rho = float(gdtx.radam_rectification(0.999, 4.0)._rho(count))  # ρ₁₀ ≈ 9.96
    x = jnp.array([0.5])
    inclusive = gdtx.radam_rectification(0.999, rho)
    strict = gdtx.radam_rectification(0.999, rho, strict=True)
    passes, r = inclusive.factor(count)
    assert bool(passes) and 0 < float(r) < 1
    ctx = gdtx.Context(count=count, extra={})
    got = inclusive.step(x, (), None, ctx)[0]
    np.testing.assert_allclose(got, r * x, rtol=1e-6)
    b, t = float(np.float32(0.999)), int(count) + 1
    rho_inf = 2 / (1 - b) - 1
    rho_t = rho_inf - 2 * t * b**t / (1 - b**t)
    r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    assert 0 < r_t < 1
    np.testing.assert_allclose(got, r_t * np.asarray(x, np.float64), rtol=5e-5)
    np.testing.assert_array_equal(strict.step(x, (), None, ctx)[0], jnp.ones(1))


def test_radam_rho_matches_its_definition():
    """ρ_t = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ), ρ∞ = 2/(1 − β₂) − 1, against float64 (at β₂ as float32
    holds it: 0.999 is 0.99900001287, which moves ρ∞ by 0.026)."""
    block = gdtx.radam_rectification(0.999)
    b = float(np.float32(0.999))
    for t in (1, 2, 6, 100, 10_000):
        want = 2 / (1 - b) - 1 - 2 * t * b**t / (1 - b**t)
        got = float(block._rho(jnp.int32(t - 1)))
        assert abs(got - want) <= 1e-3, (t, got, want)


def test_a_scheduled_ema_has_no_bias_correction():
    with pytest.raises(ValueError, match="debias=False"):
        gdtx.ema(gdtx.linear_schedule(0.9, 0.99, 10))
    tx = gdtx.ema(gdtx.linear_schedule(0.5, 0.9, 10), debias=False)
    g = jnp.array([2.0])
    np.testing.assert_allclose(tx.update(g, tx.init(g))[0], [1.0])  # (1 − β(0))·g
