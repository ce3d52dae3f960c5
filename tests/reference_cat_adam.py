"""Float64 NumPy references for Adam's variants: RAdam, NAdamW, AdamaxW, AdaBelief, Yogi,
ADOPT and AdEMAMix, each written out from its paper's equations (see tests/reference.py for
the conventions: per leaf, t from 1, a learning rate is a number or a function of t − 1).
"""

from __future__ import annotations

import math

import numpy as np
from reference import Adamax, DecoupledDecay, NAdam, Optimizer, _l2, _mask, _rate


class RAdam(Optimizer):
    """RAdam (Liu et al., 2020, arXiv:1908.03265, Algorithm 2).

    g ← g + λθ (L2, unless decoupled); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    ρ∞ = 2/(1 − β₂) − 1; ρ_t = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ); m̂ = m/(1 − β₁ᵗ) (Nesterov:
    β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ)). If ρ_t ≥ ρ_thr (> with ``strict_threshold``):
    r_t = √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t)) and d = r_t·m̂/(√(v̂ + ε_root) + ε),
    v̂ = v/(1 − β₂ᵗ) (or d = r_t·m̂·√(1 − β₂ᵗ)/(√(v + ε_root) + ε) with
    ``eps_before_correction``); else d = m̂. θ ← θ − α·d (− αλθ when decoupled).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        eps_root=0.0,
        threshold=5.0,
        *,
        nesterov=False,
        weight_decay=None,
        decoupled_weight_decay=False,
        strict_threshold=False,
        eps_before_correction=False,
    ):
        self.learning_rate, self.b1, self.b2, self.eps, self.eps_root = (
            learning_rate,
            b1,
            b2,
            eps,
            eps_root,
        )
        self.threshold, self.nesterov, self.weight_decay = threshold, nesterov, weight_decay
        self.decoupled, self.strict = decoupled_weight_decay, strict_threshold
        self.eps_before = eps_before_correction

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        s = state
        b1, b2 = self.b1, self.b2
        if not self.decoupled:
            g = _l2(g, p, self.weight_decay)
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        if self.nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        tractable = rho > self.threshold if self.strict else rho >= self.threshold
        if tractable:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            if self.eps_before:
                d = r * m_hat * math.sqrt(1 - b2**t) / (np.sqrt(v + self.eps_root) + self.eps)
            else:
                d = r * m_hat / (np.sqrt(v / (1 - b2**t) + self.eps_root) + self.eps)
        else:
            d = m_hat
        if self.decoupled:
            d = d + self.weight_decay * p
        return p - alpha * d, {"m": m, "v": v}


class NAdamW(DecoupledDecay, NAdam):
    """NAdamW: NAdam (Dozat, 2016; :class:`reference.NAdam`'s direction n, ε_root inside
    the root) with AdamW's decoupled decay (Loshchilov & Hutter, 2019):
    θ ← θ − α(n/(√(v/(1 − β₂ᵗ) + ε_root) + ε) + λθ), λ on the leaves ``mask`` selects.
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        eps_root=0.0,
        weight_decay=1e-4,
        mask=None,
        momentum_decay=4e-3,
    ):
        super().__init__(learning_rate, b1, b2, eps, momentum_decay, eps_root=eps_root)
        self.decoupled, self.mask = weight_decay, mask


class AdamaxW(DecoupledDecay, Adamax):
    """AdamaxW: Adamax (Kingma & Ba, 2015, §7.1; :class:`reference.Adamax`'s direction
    m/((1 − β₁ᵗ)u), or m/((1 − β₁ᵗ)(u + ε)) with ``eps_in_max=False``) with AdamW's
    decoupled decay: θ ← θ − α(m/((1 − β₁ᵗ)u) + λθ), λ on the leaves ``mask`` selects.
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        weight_decay=1e-4,
        mask=None,
        eps_in_max=True,
    ):
        super().__init__(learning_rate, b1, b2, eps, eps_in_max)
        self.decoupled, self.mask = weight_decay, mask


class AdaBelief(Optimizer):
    """AdaBelief (Zhuang et al., 2020, arXiv:2010.07468, Algorithm 2).

    g ← g + λθ (L2, optional); m ← β₁m + (1 − β₁)g; s ← β₂s + (1 − β₂)(g − m)² + ε_root;
    m̂ = m/(1 − β₁ᵗ) (Nesterov: β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ)); ŝ = s/(1 − β₂ᵗ);
    θ ← θ − α·m̂/(√ŝ + ε).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-16,
        eps_root=1e-16,
        *,
        nesterov=False,
        weight_decay=None,
    ):
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, eps
        self.eps_root, self.nesterov, self.weight_decay = eps_root, nesterov, weight_decay

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "s": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        st = state
        b1, b2 = self.b1, self.b2
        g = _l2(g, p, self.weight_decay)
        m = b1 * st["m"] + (1 - b1) * g
        s = b2 * st["s"] + (1 - b2) * (g - m) ** 2 + self.eps_root
        if self.nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        d = m_hat / (np.sqrt(s / (1 - b2**t)) + self.eps)
        return p - alpha * d, {"m": m, "s": s}


class Yogi(Optimizer):
    """Yogi (Zaheer et al., 2018, NeurIPS, Algorithm 2), bias-corrected as in Optax.

    g ← g + λθ (L2, optional); m ← β₁m + (1 − β₁)g (m₀ = 0);
    v ← v − (1 − β₂)·sign(v − g²)·g² (v₀ = ``initial_accumulator_value``);
    θ ← θ − α·(m/(1 − β₁ᵗ))/(√(v/(1 − β₂ᵗ) + ε_root) + ε).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-3,
        *,
        eps_root=0.0,
        initial_accumulator_value=1e-6,
        weight_decay=None,
    ):
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, eps
        self.eps_root, self.v0, self.weight_decay = (
            eps_root,
            initial_accumulator_value,
            weight_decay,
        )

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.full_like(p, self.v0)}

    def update_leaf(self, key, p, g, state, alpha, t):
        s = state
        b1, b2 = self.b1, self.b2
        g = _l2(g, p, self.weight_decay)
        m = b1 * s["m"] + (1 - b1) * g
        v = s["v"] - (1 - b2) * np.sign(s["v"] - g * g) * g * g
        d = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t) + self.eps_root) + self.eps)
        return p - alpha * d, {"m": m, "v": v}


class ADOPT(Optimizer):
    """ADOPT (Taniguchi et al., 2024, arXiv:2411.02853, Algorithm 2), steps counted from 1.

    t = 1: v = g², θ unchanged. t > 1: x = clip(g/max(√v, ε), c(t − 1)) (no clip without
    ``use_clipping``); m ← β₁m + (1 − β₁)x; θ ← θ − α·m (Nesterov: θ ← θ − α(β₁m +
    (1 − β₁)x)); then v ← β₂v + (1 − β₂)g². c(k) = k^¼ by default. g ← g + λθ first (L2).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.9999,
        eps=1e-6,
        *,
        nesterov=False,
        use_clipping=True,
        clip_value_fn=None,
        weight_decay=None,
    ):
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, eps
        self.nesterov, self.use_clipping, self.weight_decay = nesterov, use_clipping, weight_decay
        self.clip = clip_value_fn or (lambda k: k**0.25)

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        g = _l2(g, p, self.weight_decay)
        if t == 1:
            return p, {"m": state["m"], "v": g * g}
        x = g / np.maximum(np.sqrt(state["v"]), self.eps)
        if self.use_clipping:
            c = float(self.clip(float(t - 1)))
            x = np.clip(x, -c, c)
        m = self.b1 * state["m"] + (1 - self.b1) * x
        d = self.b1 * m + (1 - self.b1) * x if self.nesterov else m
        v = self.b2 * state["v"] + (1 - self.b2) * g * g
        return p - alpha * d, {"m": m, "v": v}


class AdEMAMix(Optimizer):
    """AdEMAMix (Pagliardini, Ablin & Grangier, 2024, arXiv:2409.03137, Algorithm 1).

    β₃ and α: numbers or functions of t − 1. m₁ ← β₁m₁ + (1 − β₁)g; m₂ ← β₃m₂ + (1 − β₃)g;
    v ← β₂v + (1 − β₂)g²; θ ← θ − η((m₁/(1 − β₁ᵗ) + α·m₂)/(√(v/(1 − β₂ᵗ) + ε_root) + ε) + λθ),
    λ on the leaves ``mask`` selects.
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        b3=0.9999,
        alpha=5.0,
        eps=1e-8,
        eps_root=0.0,
        weight_decay=0.0,
        mask=None,
    ):
        self.learning_rate, self.b1, self.b2, self.b3, self.alpha = (
            learning_rate,
            b1,
            b2,
            b3,
            alpha,
        )
        self.eps, self.eps_root, self.weight_decay, self.mask = eps, eps_root, weight_decay, mask

    def init_leaf(self, p):
        return {"m1": np.zeros_like(p), "m2": np.zeros_like(p), "v": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        b1, b2 = self.b1, self.b2
        b3, mix = _rate(self.b3, t - 1), _rate(self.alpha, t - 1)
        m1 = b1 * state["m1"] + (1 - b1) * g
        m2 = b3 * state["m2"] + (1 - b3) * g
        v = b2 * state["v"] + (1 - b2) * g * g
        d = (m1 / (1 - b1**t) + mix * m2) / (np.sqrt(v / (1 - b2**t) + self.eps_root) + self.eps)
        lam = self.weight_decay if _mask(self.mask, key) else 0.0
        return p - alpha * (d + lam * p), {"m1": m1, "m2": m2, "v": v}
