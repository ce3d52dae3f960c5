"""Float64 NumPy references of the layer-wise and memory-saving algorithms: LAMB, NovoGrad,
Adan, Fromage and SM3, each written out from its paper per leaf (per parameter array), as
tests/reference.py writes the others (its conventions hold here)."""

from __future__ import annotations

import numpy as np
from reference import Optimizer, _mask, trust_ratio


class LAMB(Optimizer):
    """LAMB (You et al., 2020, arXiv:1904.00962, Algorithm 2), per layer.

    m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; r = m/(1 − β₁ᵗ) / (√(v/(1 − β₂ᵗ) + ε_root) + ε);
    u = r + λθ (λ on the leaves of ``mask``); θ ← θ − α·‖θ‖/‖u‖·u, the ratio 1 where
    ‖θ‖ or ‖u‖ is 0 (φ the identity).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-6,
        eps_root=0.0,
        weight_decay=0.0,
        mask=None,
        maximize=False,
    ):
        self.learning_rate, self.b1, self.b2 = learning_rate, b1, b2
        self.eps, self.eps_root, self.weight_decay, self.mask = eps, eps_root, weight_decay, mask
        self.sign = -1.0 if maximize else 1.0

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        g = self.sign * g
        m = self.b1 * state["m"] + (1 - self.b1) * g
        v = self.b2 * state["v"] + (1 - self.b2) * g * g
        r = (m / (1 - self.b1**t)) / (np.sqrt(v / (1 - self.b2**t) + self.eps_root) + self.eps)
        u = r + (self.weight_decay if _mask(self.mask, key) else 0.0) * p
        ratio = trust_ratio(u, p, coefficient=1.0, eps=0.0)  # ‖θ‖/‖u‖, 1 where a norm is 0
        return p - alpha * ratio * u, {"m": m, "v": v}


class NovoGrad(Optimizer):
    """NovoGrad (Ginsburg et al., 2019, arXiv:1905.11286, Algorithm 1), per layer.

    v₁ = ‖g₁‖², v_t = β₂v_{t−1} + (1 − β₂)‖g_t‖²; m₁ = g₁/(√(v₁ + ε_root) + ε) + λθ,
    m_t = β₁m_{t−1} + g_t/(√(v_t + ε_root) + ε) + λθ; θ ← θ − αm. (The paper writes ε
    only from t = 2 on and has no ε_root; Optax, like gdtx, uses them at every step.)
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.25,
        eps=1e-6,
        eps_root=0.0,
        weight_decay=0.0,
        maximize=False,
    ):
        self.learning_rate, self.b1, self.b2 = learning_rate, b1, b2
        self.eps, self.eps_root, self.weight_decay = eps, eps_root, weight_decay
        self.sign = -1.0 if maximize else 1.0

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": 0.0}

    def update_leaf(self, key, p, g, state, alpha, t):
        g = self.sign * g
        sq = float(np.sum(g * g))  # ‖g‖²
        v = sq if t == 1 else self.b2 * state["v"] + (1 - self.b2) * sq
        m = self.b1 * state["m"] + g / (np.sqrt(v + self.eps_root) + self.eps)
        m = m + self.weight_decay * p
        return p - alpha * m, {"m": m, "v": v}


class Adan(Optimizer):
    """Adan (Xie et al., 2022, arXiv:2208.06677, Algorithm 1), in the paper's β (its β is
    1 − the code's ``b``), with the bias corrections of the authors' implementation.

    Δ_k = g_k − g_{k−1} (Δ₁ = 0); m_k = (1 − β₁)m + β₁g_k; v_k = (1 − β₂)v + β₂Δ_k;
    n_k = (1 − β₃)n + β₃(g_k + (1 − β₂)Δ_k)²; u = (m_k/(1 − (1 − β₁)ᵏ) + (1 − β₂)·
    v_k/(1 − (1 − β₂)ᵏ)) / (√(n_k/(1 − (1 − β₃)ᵏ) + ε_root) + ε); θ ← θ − α(u + λθ), λ on
    the leaves of ``mask`` (decoupled decay, the authors' ``no_prox`` form).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.98,
        b2=0.92,
        b3=0.99,
        eps=1e-8,
        eps_root=0.0,
        weight_decay=0.0,
        mask=None,
        maximize=False,
    ):
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.beta3 = 1 - b1, 1 - b2, 1 - b3  # the paper's β
        self.eps, self.eps_root, self.weight_decay, self.mask = eps, eps_root, weight_decay, mask
        self.sign = -1.0 if maximize else 1.0

    def init_leaf(self, p):
        zeros = np.zeros_like(p)
        return {"m": zeros, "v": zeros, "n": zeros, "g": zeros}

    def update_leaf(self, key, p, g, state, alpha, t):
        be1, be2, be3 = self.beta1, self.beta2, self.beta3
        g = self.sign * g
        diff = np.zeros_like(g) if t == 1 else g - state["g"]
        m = (1 - be1) * state["m"] + be1 * g
        v = (1 - be2) * state["v"] + be2 * diff
        n = (1 - be3) * state["n"] + be3 * (g + (1 - be2) * diff) ** 2
        direction = m / (1 - (1 - be1) ** t) + (1 - be2) * v / (1 - (1 - be2) ** t)
        u = direction / (np.sqrt(n / (1 - (1 - be3) ** t) + self.eps_root) + self.eps)
        lam = self.weight_decay if _mask(self.mask, key) else 0.0
        return p - alpha * (u + lam * p), {"m": m, "v": v, "n": n, "g": g}


class Fromage(Optimizer):
    """Fromage (Bernstein et al., 2020, arXiv:2002.03432, Algorithm 1), per layer.

    θ ← (θ − α·‖θ‖/‖g‖·g)/√(1 + α²), with the ratio 1 where ‖θ‖ or ‖g‖ is ≤ ``min_norm``.
    """

    def __init__(self, learning_rate, min_norm=1e-6, maximize=False):
        self.learning_rate, self.min_norm = learning_rate, min_norm
        self.sign = -1.0 if maximize else 1.0

    def update_leaf(self, key, p, g, state, alpha, t):
        g = self.sign * g
        ratio = trust_ratio(g, p, coefficient=1.0, eps=0.0, min_norm=self.min_norm)  # ‖θ‖/‖g‖
        return (p - alpha * ratio * g) / np.sqrt(1 + alpha**2), state


class SM3(Optimizer):
    """SM3-II (Anil, Gupta, Koren & Singer, 2019, arXiv:1901.11150, Algorithm 4) with the
    cover of rows and columns, then an EWMA of its steps (the paper's experiments' momentum).

    For each matrix of a leaf of shape (..., r, c), entry (i, j): ν'(i, j) = g(i, j)² +
    min(μ'_row(i), μ'_col(j)); then μ'_row(i) = max_j ν'(i, j), μ'_col(j) = max_i ν'(i, j).
    A leaf of fewer than two dimensions covers each entry by itself: ν' = μ' + g².
    m ← βm + (1 − β)·g/√(ν' + ε) (0 where ν' + ε = 0, m = that when β is None);
    θ ← θ − αm.
    """

    def __init__(self, learning_rate, momentum=0.9, eps=0.0, maximize=False, m_dtype=None):
        del m_dtype
        self.learning_rate, self.momentum, self.eps = learning_rate, momentum, eps
        self.sign = -1.0 if maximize else 1.0

    def init_leaf(self, p):
        if p.ndim >= 2:
            mu = (np.zeros(p.shape[:-1]), np.zeros(p.shape[:-2] + p.shape[-1:]))
        else:
            mu = np.zeros_like(p)
        return {"m": np.zeros_like(p), "mu": mu}

    def update_leaf(self, key, p, g, state, alpha, t):
        g = self.sign * g
        if g.ndim >= 2:
            rows, cols = (x.copy() for x in state["mu"])
            nu = np.empty_like(g)
            for idx in np.ndindex(*g.shape[:-2]):  # each matrix of the stack
                G, R, C = g[idx], rows[idx], cols[idx]
                N = np.empty_like(G)
                for i, j in np.ndindex(*G.shape):  # the sets covering entry (i, j): row i, column j
                    N[i, j] = G[i, j] ** 2 + min(R[i], C[j])
                nu[idx] = N
                rows[idx], cols[idx] = N.max(axis=1), N.max(axis=0)
            mu = (rows, cols)
        else:
            nu = state["mu"] + g * g
            mu = nu
        den = np.sqrt(nu + self.eps)
        step = np.where(den > 0, g / np.where(den > 0, den, 1.0), 0.0)
        if self.momentum is None:
            m = step
        else:
            m = self.momentum * state["m"] + (1 - self.momentum) * step
        return p - alpha * m, {"m": m, "mu": mu}
