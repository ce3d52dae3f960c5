"""Float64 NumPy references of the matrix optimizers (Muon), written from the papers.

As in tests/reference.py, nothing here imports gdtx: each rule is written out again,
matrix by matrix with NumPy's products, in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from reference import Optimizer, _mask, _rate

JORDAN_COEFFS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: np.ndarray, coeffs: Any, steps: int, eps: float) -> np.ndarray:
    """Jordan's quintic iteration on one matrix: X₀ = G/(‖G‖_F + ε),
    X ← aX + b(XXᵀ)X + c(XXᵀ)²X, written on Xᵀ when G is tall (the same polynomial)."""
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / (np.linalg.norm(x) + eps)
    a, b, c = coeffs
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + b * gram @ x + c * gram @ gram @ x
    return x.T if tall else x


class Muon(Optimizer):
    """Muon (Jordan et al., 2024) as Optax's ``contrib.muon`` and torch's ``Muon`` write it.

    Each selected matrix (2-d leaves, or the leaves of ``muon_mask``: the last two
    dimensions, leading ones a stack): m ← βm + (1 − β)g; u = (1 − β)g/(1 − βᵗ) +
    βm/(1 − βᵗ⁺¹) with Nesterov, m/(1 − βᵗ) without (the denominators left out when
    ``debias`` is False); O = NS(u), times ⟨u, O⟩ if ``adaptive``; s = √max(1,
    fan_out/fan_in) or ρ√max(fan_in, fan_out); θ ← θ − α(sO + λθ). Every other leaf:
    AdamW with (constant-μ) Nesterov momentum, Optax's ``adamw(nesterov=True)``: m, v
    EWMAs; m̂ = β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ); θ ← θ − α_adam(m̂/(√(v/(1 − β₂ᵗ) +
    ε_root) + ε) + λ_adam θ).
    """

    def __init__(
        self,
        learning_rate,
        ns_coeffs=JORDAN_COEFFS,
        ns_steps=5,
        beta=0.95,
        eps=1e-8,
        weight_decay=0.0,
        weight_decay_mask=None,
        mu_dtype=None,
        *,
        nesterov=True,
        adaptive=False,
        adam_b1=0.9,
        adam_b2=0.999,
        adam_eps_root=0.0,
        adam_weight_decay=0.0,
        adam_learning_rate=None,
        consistent_rms=None,
        muon_mask=None,
        debias=True,
        fan_in_axis=-2,
        ns_method="standard",
    ):
        del mu_dtype, ns_method  # the Gram form computes the same iteration
        self.learning_rate, self.coeffs, self.steps = learning_rate, ns_coeffs, ns_steps
        self.beta, self.eps = beta, eps
        self.weight_decay, self.wd_mask = weight_decay, weight_decay_mask
        self.nesterov, self.adaptive, self.debias = nesterov, adaptive, debias
        self.b1, self.b2, self.eps_root = adam_b1, adam_b2, adam_eps_root
        self.adam_wd = adam_weight_decay
        self.adam_lr = learning_rate if adam_learning_rate is None else adam_learning_rate
        self.rms, self.muon_mask, self.fan_in_axis = consistent_rms, muon_mask, fan_in_axis

    def is_muon(self, key: str, p: np.ndarray) -> bool:
        if self.muon_mask is None:
            return p.ndim == 2
        mask: Any = self.muon_mask
        if callable(mask):  # a predicate of the NumPy leaf, e.g. ``lambda p: p.ndim >= 2``
            return bool(mask(p))
        return _mask(mask, key)

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        s = state
        if not self.is_muon(key, p):
            return self.adam_leaf(p, g, s, t)
        b = self.beta
        m = b * s["m"] + (1 - b) * g
        if self.debias:
            c_t, c_next = 1 - b**t, 1 - b ** (t + 1)
        else:
            c_t = c_next = 1.0
        u = (1 - b) * g / c_t + b * m / c_next if self.nesterov else m / c_t
        rows, cols = p.shape[-2:]
        fan_in, fan_out = (rows, cols) if self.fan_in_axis == -2 else (cols, rows)
        if self.rms is None:
            scale = math.sqrt(max(1.0, fan_out / fan_in))
        else:
            scale = self.rms * math.sqrt(max(fan_in, fan_out))
        out = np.empty_like(u)
        for idx in np.ndindex(*u.shape[:-2]):  # each matrix of a stack
            o = newton_schulz(u[idx], self.coeffs, self.steps, self.eps)
            out[idx] = np.sum(u[idx] * o) * o if self.adaptive else o
        lam = self.weight_decay if _mask(self.wd_mask, key) else 0.0
        return p - alpha * (scale * out + lam * p), {"m": m, "v": s["v"]}

    def adam_leaf(self, p, g, s, t):
        alpha = _rate(self.adam_lr, t - 1)
        m = self.b1 * s["m"] + (1 - self.b1) * g
        v = self.b2 * s["v"] + (1 - self.b2) * g * g
        if self.nesterov:
            m_hat = self.b1 * m / (1 - self.b1 ** (t + 1)) + (1 - self.b1) * g / (1 - self.b1**t)
        else:
            m_hat = m / (1 - self.b1**t)
        v_hat = v / (1 - self.b2**t)
        step = m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps) + self.adam_wd * p
        return p - alpha * step, {"m": m, "v": v}


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018, arXiv:1804.04235, Algorithm 4 and §§7-8).

    β₂_t = 1 − (t − t₀)^(−c). Each matrix G (last two dimensions of a leaf whose both are
    ≥ ``min_dim_size_to_factor``): R ← β₂_t R + (1 − β₂_t) rowmean(G² + ε₁), C likewise
    with column means, V̂ = RCᵀ/mean(R); other leaves v ← β₂_t v + (1 − β₂_t)(g² + ε₁),
    V̂ = v. With ``clamp_eps`` (torch): no ε₁ in G², V̂ = RCᵀ/max(mean R, ε₁) and
    V̂ ← max(V̂, ε₁²). U = G/√V̂; Û = U/max(1, rms(U)/d); step = α_t·max(ε₂, rms(θ))·Û
    (α_t = min(α, 1/√t) with ``relative_step``; α = 1 for ``learning_rate=None``);
    m ← μm + (1 − μ)step with momentum; θ ← θ − step − λθ.
    """

    def __init__(
        self,
        learning_rate=None,
        min_dim_size_to_factor=128,
        decay_rate=0.8,
        decay_offset=0,
        multiply_by_parameter_scale=True,
        clipping_threshold=1.0,
        momentum=None,
        dtype_momentum=None,
        weight_decay_rate=None,
        eps=1e-30,
        factored=True,
        weight_decay_mask=None,
        *,
        relative_step=False,
        clamp_eps=False,
        eps_scale=1e-3,
    ):
        del dtype_momentum
        self.learning_rate = 1.0 if learning_rate is None else learning_rate
        self.min_dim, self.c, self.t0 = min_dim_size_to_factor, decay_rate, decay_offset
        self.param_scale, self.d, self.mu = (
            multiply_by_parameter_scale,
            clipping_threshold,
            (momentum),
        )
        self.wd, self.eps, self.factored, self.wd_mask = (
            weight_decay_rate,
            eps,
            factored,
            weight_decay_mask,
        )
        self.relative, self.clamp, self.eps2 = relative_step, clamp_eps, eps_scale

    def is_factored(self, shape: tuple[int, ...]) -> bool:
        return self.factored and len(shape) >= 2 and min(shape[-2:]) >= self.min_dim

    def init_leaf(self, p):
        state: dict[str, Any] = {"m": np.zeros_like(p)}
        if self.is_factored(p.shape):
            state["r"], state["c"] = np.zeros(p.shape[:-1]), np.zeros(p.shape[:-2] + p.shape[-1:])
        else:
            state["v"] = np.zeros_like(p)
        return state

    def update_leaf(self, key, p, g, state, alpha, t):
        s = dict(state)
        beta = 1.0 - (t - self.t0) ** (-self.c)
        sq = g * g if self.clamp else g * g + self.eps
        if self.is_factored(g.shape):
            r = beta * s["r"] + (1 - beta) * sq.mean(axis=-1)
            c = beta * s["c"] + (1 - beta) * sq.mean(axis=-2)
            mean = r.mean(axis=-1)
            if self.clamp:
                mean = np.maximum(mean, self.eps)
            v_hat = r[..., :, None] * c[..., None, :] / mean[..., None, None]
            s["r"], s["c"] = r, c
        else:
            v_hat = s["v"] = beta * s["v"] + (1 - beta) * sq
        if self.clamp:
            v_hat = np.maximum(v_hat, self.eps**2)
        u = g / np.sqrt(v_hat)
        if self.d is not None:
            u = u / max(1.0, math.sqrt(np.mean(u * u)) / self.d)
        rate = min(alpha, 1 / math.sqrt(t)) if self.relative else alpha
        step = rate * u
        if self.param_scale:
            step = step * max(self.eps2, math.sqrt(np.mean(p * p)))
        if self.mu is not None:
            step = s["m"] = self.mu * s["m"] + (1 - self.mu) * step
        if self.wd is not None and _mask(self.wd_mask, key):
            step = step + self.wd * p
        return p - step, s
