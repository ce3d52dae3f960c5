"""Float64 NumPy references for the algorithms of Optax's contrib (and Optax's lookahead),
written from the papers' equations, in the conventions of tests/reference.py."""

from __future__ import annotations

from typing import Any

import numpy as np
from reference import SGD, Adam, Optimizer, Tree, _mask, _rate


def _warmup(learning_rate: float, warmup_steps: int | None) -> Any:
    """α(count) = α·min(count/warmup_steps, 1), or the constant α without warm-up."""
    if warmup_steps is None:
        return learning_rate
    return lambda count: learning_rate * min(count / warmup_steps, 1.0)


class ScheduleFree(Optimizer):
    """Schedule-Free SGD and AdamW (Defazio et al., 2024, arXiv:2405.15682, Algorithm 1).

    With the base direction d (g + λy for SGD; g/(√v̂ + ε) + λy for AdamW, where
    v ← β₂v + (1 − β₂)g², v̂ = v/(1 − β₂ᵗ)):
    z ← z − α_{t−1}d; α_max ← max(α_max, α_t); w_t = α_maxᵖ; c = w_t/Σᵢ wᵢ;
    x ← (1 − c)x + cz; y ← β₁x + (1 − β₁)z; the parameters are y, x and z start at θ₀.
    The averaging weight reads the schedule at t and the step at t − 1 (Optax's
    convention; the paper uses one α_t for both).
    """

    def __init__(
        self,
        learning_rate: float,
        warmup_steps: int | None = None,
        b1: float = 0.9,
        weight_decay: float | None = None,
        weight_lr_power: float = 2.0,
        *,
        adam: bool = False,
        b2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        self.learning_rate = _warmup(learning_rate, warmup_steps)
        self.b1, self.wd, self.power = b1, weight_decay or 0.0, weight_lr_power
        self.adam, self.b2, self.eps = adam, b2, eps

    def init(self, params: Tree) -> None:
        super().init(params)
        self.max_lr, self.weight_sum = 0.0, 0.0

    def init_leaf(self, p):
        return {"x": p.copy(), "z": p.copy(), "v": np.zeros_like(p)}

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.max_lr = max(self.max_lr, _rate(self.learning_rate, self.t + 1))
        w = self.max_lr**self.power
        self.weight_sum += w
        self.c = w / self.weight_sum if self.weight_sum > 0 else 0.0
        return super().step(params, grads)

    def update_leaf(self, key, p, g, state, alpha, t):
        y, s = p, state  # the parameters are y
        if self.adam:
            v = self.b2 * s["v"] + (1 - self.b2) * g * g
            d = g / (np.sqrt(v / (1 - self.b2**t)) + self.eps) + self.wd * y
        else:
            v, d = s["v"], g + self.wd * y
        z = s["z"] - alpha * d
        x = (1 - self.c) * s["x"] + self.c * z
        return self.b1 * x + (1 - self.b1) * z, {"x": x, "z": z, "v": v}


def schedule_free_sgd(
    learning_rate=1.0,
    warmup_steps=None,
    b1=0.9,
    weight_decay=None,
    weight_lr_power=2.0,
    state_dtype=None,
    maximize=False,
) -> ScheduleFree:
    del state_dtype, maximize
    return ScheduleFree(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power)


def schedule_free_adamw(
    learning_rate=0.0025,
    warmup_steps=None,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    weight_lr_power=2.0,
    state_dtype=None,
    maximize=False,
) -> ScheduleFree:
    del state_dtype, maximize
    opt = ScheduleFree(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power)
    opt.adam, opt.b2, opt.eps = True, b2, eps
    return opt


class Lookahead:
    """Lookahead (Zhang et al., 2019, arXiv:1907.08610, Algorithm 1) around a reference
    optimizer: the parameters are the fast weights φ, θ₀ = φ₀. Each step is the fast
    optimizer's; after every k-th step θ ← θ + α(φ − θ) and φ ← θ (and, with
    ``reset_state``, the fast optimizer restarts: fresh state, t from 1)."""

    def __init__(self, fast, sync_period, slow_step_size, reset_state=False):
        self.fast, self.k, self.alpha, self.reset = fast, sync_period, slow_step_size, reset_state

    def init(self, params: Tree) -> None:
        self.fast.init(params)
        self.slow = {k: v.copy() for k, v in params.items()}
        self.t = 0

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.t += 1
        phi = self.fast.step(params, grads)
        if self.t % self.k:
            return phi
        self.slow = {k: self.slow[k] + self.alpha * (phi[k] - self.slow[k]) for k in phi}
        if self.reset:
            self.fast.init(self.slow)
        return {k: v.copy() for k, v in self.slow.items()}


def lookahead(learning_rate, sync_period=5, slow_step_size=0.5, reset_state=False, fast="adam"):
    """Lookahead around Adam(α), or SGD(α) with heavy-ball momentum 0.9."""
    inner = Adam(learning_rate) if fast == "adam" else SGD(learning_rate, 0.9)
    return Lookahead(inner, sync_period, slow_step_size, reset_state)


class Prodigy:
    """Prodigy (Mishchenko & Defazio, 2023, arXiv:2306.06101, Algorithm 3, Adam form, as
    the authors' code runs it).

    η = α_t·d·√(1 − β₂ᵗ)/(1 − β₁ᵗ); m ← β₁m + (1 − β₁)dg; v ← β₂v + (1 − β₂)d²g²;
    r ← β₃r + (1 − β₃)η·d·⟨g, x₀ − x⟩; s ← β₃s + (1 − β₃)η·d·g (d·d·g with the
    safeguard); d' = max(d, c·r/‖s‖₁); x ← x − η(m/(√v + d'ε) + λx); sums over all leaves.
    The (1 − β₃) factor is the paper's; the authors' code drops it (and divides by d₀),
    which the ratio r/‖s‖₁ does not see.
    """

    def __init__(
        self,
        learning_rate=1.0,
        betas=(0.9, 0.999),
        beta3=None,
        eps=1e-8,
        estim_lr0=1e-6,
        estim_lr_coef=1.0,
        weight_decay=0.0,
        safeguard_warmup=False,
        maximize=False,
    ):
        del maximize
        self.learning_rate, (self.b1, self.b2) = learning_rate, betas
        self.b3 = np.sqrt(self.b2) if beta3 is None else beta3
        self.eps, self.d0, self.coef = eps, estim_lr0, estim_lr_coef
        self.wd, self.safeguard = weight_decay, safeguard_warmup

    def init(self, params: Tree) -> None:
        self.t, self.d, self.r = 0, self.d0, 0.0
        self.x0 = {k: v.copy() for k, v in params.items()}
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.s = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.t += 1
        t, d, b1, b2, b3 = self.t, self.d, self.b1, self.b2, self.b3
        eta = _rate(self.learning_rate, t - 1) * d * np.sqrt(1 - b2**t) / (1 - b1**t)
        inner = sum(float(np.sum(grads[k] * (self.x0[k] - params[k]))) for k in params)
        w = d * d if self.safeguard else eta * d
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * d * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * d * d * g * g
            self.s[k] = b3 * self.s[k] + (1 - b3) * w * g
        self.r = b3 * self.r + (1 - b3) * eta * d * inner
        norm_s = sum(float(np.sum(np.abs(s))) for s in self.s.values())
        if norm_s > 0:
            self.d = max(d, self.coef * self.r / norm_s)
        return {
            k: p - eta * (self.m[k] / (np.sqrt(self.v[k]) + self.d * self.eps) + self.wd * p)
            for k, p in params.items()
        }


class SAM:
    """SAM (Foret et al., 2021, arXiv:2010.01412, Algorithm 1) in Optax's transparent form:
    over a period of k steps from the true weights w, the first k − 1 steps climb,
    θ ← θ + ρ·d with d the adversarial optimizer's direction for g/‖g‖ (plain g/‖g‖ for
    SGD without momentum: the paper's ε), and the k-th sets θ ← O(w; g), the outer
    optimizer's step from w with the gradient taken at θ. With ``reset_state`` the
    adversarial optimizer restarts each period."""

    def __init__(self, outer, adversary, sync_period=2, reset_state=True):
        self.outer, self.adv, self.k, self.reset = outer, adversary, sync_period, reset_state

    def init(self, params: Tree) -> None:
        self.outer.init(params)
        self.adv.init(params)
        self.t = 0

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.t += 1
        phase = (self.t - 1) % self.k
        if phase == 0:
            self.w = {k: v.copy() for k, v in params.items()}
        if phase < self.k - 1:
            norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
            moved = self.adv.step(params, {k: g / norm for k, g in grads.items()})
            return {k: 2 * params[k] - moved[k] for k in params}  # θ − (A's step)
        if self.reset:
            self.adv.init(params)
        return self.outer.step(self.w, grads)


def sam(rho, learning_rate, sync_period=2, reset_state=True, outer="sgd", adv_momentum=None):
    """SAM with outer SGD(α) or Adam(α) and adversarial normalized SGD(ρ) (with momentum)."""
    opt = SGD(learning_rate) if outer == "sgd" else Adam(learning_rate)
    return SAM(opt, SGD(rho, adv_momentum), sync_period, reset_state)


class Sophia(Optimizer):
    """Sophia (Liu et al., 2023, arXiv:2305.14342, Algorithm 3) with the diagonal estimate
    ĥ = g² (a deterministic stand-in for Hutchinson's u ⊙ Hu, so a gradient sequence drives
    it; ``estimate`` replaces it): m ← β₁m + (1 − β₁)g;
    θ ← θ − α(clip(m/(1 − β₁ᵗ)/max(γh, ε), ρ) + λθ); then, when (t − 1) mod k = 0,
    h ← β₂h + (1 − β₂)ĥ. The step uses h before this step's estimate and
    m bias-corrected (Optax's order; the paper estimates first and does not correct m).
    """

    def __init__(
        self,
        learning_rate,
        b1=0.965,
        b2=0.99,
        eps=1e-8,
        weight_decay=1e-4,
        weight_decay_mask=None,
        gamma=0.01,
        clip_threshold=1.0,
        update_interval=10,
        mu_dtype=None,
    ):
        del mu_dtype
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, eps
        self.wd, self.mask, self.gamma = weight_decay, weight_decay_mask, gamma
        self.rho, self.k = clip_threshold, update_interval
        self.estimate = lambda p, g: g * g  # ĥ from the parameters and the gradient

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "h": np.zeros_like(p)}

    def update_leaf(self, key, p, g, state, alpha, t):
        m = self.b1 * state["m"] + (1 - self.b1) * g
        r = m / (1 - self.b1**t) / np.maximum(self.gamma * state["h"], self.eps)
        if self.rho is not None:
            r = np.clip(r, -self.rho, self.rho)
        lam = self.wd if _mask(self.mask, key) else 0.0
        h = state["h"]
        if (t - 1) % self.k == 0:
            h = self.b2 * h + (1 - self.b2) * self.estimate(p, g)
        return p - alpha * (r + lam * p), {"m": m, "h": h}
