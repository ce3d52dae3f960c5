"""Float64 NumPy references for the sign-based, optimistic, noisy, Rprop, averaged and Polyak
methods, written from the papers' equations (conventions as in tests/reference.py: nothing
here imports gdtx; t counts from 1; a learning rate is a number or a function of t − 1)."""

from __future__ import annotations

import jax
import numpy as np
from reference import Optimizer, _l2, _rate


class SignSGD(Optimizer):
    """signSGD (Bernstein et al., 2018, arXiv:1802.04434, Algorithm 1): θ ← θ − α·sign(g)."""

    def __init__(self, learning_rate, *, maximize=False):
        self.learning_rate, self.maximize = learning_rate, maximize

    def update_leaf(self, key, p, g, s, alpha, t):
        g = -g if self.maximize else g
        return p - alpha * np.sign(g), s


class Signum(Optimizer):
    """Signum (Bernstein et al., 2018, Algorithm 3): m ← βm + (1 − β)g; θ ← θ − α·sign(m)."""

    def __init__(self, learning_rate, beta=0.9, m_dtype=None, *, maximize=False):
        del m_dtype
        self.learning_rate, self.beta, self.maximize = learning_rate, beta, maximize

    def init_leaf(self, p):
        return np.zeros_like(p)

    def update_leaf(self, key, p, g, m, alpha, t):
        g = -g if self.maximize else g
        m = self.beta * m + (1 - self.beta) * g
        return p - alpha * np.sign(m), m


class NoisySGD:
    """Gradient descent on noisy gradients (Neelakantan et al., 2015, arXiv:1511.06807):
    θ ← θ − α(g + σ_t ξ), σ_t² = η / t^γ, ξ ~ N(0, I).

    The noise ξ is an input, not an equation: it is drawn in float32 with JAX's PRNG as
    Optax's ``add_noise`` draws it (each step splits the key into the next key and a
    sample key, the sample key into one key per leaf in the tree's sorted-key order).
    """

    def __init__(self, learning_rate, eta=0.01, gamma=0.55, key=None, *, maximize=False):
        self.learning_rate, self.eta, self.gamma = learning_rate, eta, gamma
        self.key, self.maximize = key, maximize

    def init(self, params):
        self.t = 0
        self.rng = jax.random.key(self.key)

    def step(self, params, grads):
        self.t += 1
        alpha = _rate(self.learning_rate, self.t - 1)
        sigma = np.sqrt(self.eta / self.t**self.gamma)
        self.rng, sample = jax.random.split(self.rng)
        names = sorted(params)
        keys = jax.random.split(sample, len(names))
        new = {}
        for k, leaf_key in zip(names, keys, strict=True):
            xi = np.asarray(jax.random.normal(leaf_key, np.shape(params[k]), "float32"))
            g = -grads[k] if self.maximize else grads[k]
            new[k] = params[k] - alpha * (g + sigma * xi.astype(np.float64))
        return new


class OptimisticGD(Optimizer):
    """Optimistic gradient descent (Daskalakis et al., 2018, eq. 4; Mokhtari et al., 2020):
    θ ← θ − η((α + β)g_t − βg_{t−1}), with g₀ = g₁ (a plain first step)."""

    def __init__(self, learning_rate, alpha=1.0, beta=1.0, *, maximize=False):
        self.learning_rate, self.alpha, self.beta = learning_rate, alpha, beta
        self.maximize = maximize

    def update_leaf(self, key, p, g, g_prev, alpha, t):
        g = -g if self.maximize else g
        if t == 1:
            g_prev = g
        return p - alpha * ((self.alpha + self.beta) * g - self.beta * g_prev), g


class OptimisticAdam(Optimizer):
    """Optimistic Adam (Daskalakis et al., 2018, Algorithm 1), optimism o (default α):

    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², m̂ = m/(1 − β₁ᵗ) (Nesterov: β₁m/(1 − β₁ᵗ⁺¹)
    + (1 − β₁)g/(1 − β₁ᵗ)), v̂ = v/(1 − β₂ᵗ), r_t = m̂/(√(v̂ + ε_root) + ε);
    θ ← θ − (α + o)r_t + o·r_{t−1} (α_t(2r_t − r_{t−1}) for o = α), r₀ = r₁.
    """

    def __init__(
        self,
        learning_rate,
        optimism=None,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        eps_root=0.0,
        m_dtype=None,
        *,
        nesterov=False,
        maximize=False,
    ):
        del m_dtype
        self.learning_rate, self.optimism, self.b1, self.b2 = learning_rate, optimism, b1, b2
        self.eps, self.eps_root, self.nesterov, self.maximize = eps, eps_root, nesterov, maximize

    def init_leaf(self, p):
        return np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)

    def update_leaf(self, key, p, g, state, alpha, t):
        m, v, r_prev = state
        g = -g if self.maximize else g
        b1, b2 = self.b1, self.b2
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if self.nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        r = m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps)
        if t == 1:
            r_prev = r
        o = alpha if self.optimism is None else self.optimism
        return p - (alpha + o) * r + o * r_prev, (m, v, r)


class Rprop(Optimizer):
    """Rprop without weight-backtracking (Riedmiller & Braun, 1993; iRprop⁻ of Igel & Hüsken,
    2000, as torch.optim.Rprop), elementwise with Δ₀ = learning_rate:

    Δ ← clip(Δ·η⁺, Δmin, Δmax) where g·g_prev > 0, clip(Δ·η⁻, Δmin, Δmax) where < 0 (and
    then g := 0), clip(Δ, Δmin, Δmax) where = 0; θ ← θ − Δ·sign(g); g_prev ← g.
    """

    def __init__(
        self,
        learning_rate,
        eta_minus=0.5,
        eta_plus=1.2,
        min_step_size=1e-6,
        max_step_size=50.0,
        *,
        maximize=False,
        dtype=None,
    ):
        del dtype
        self.learning_rate, self.eta_minus, self.eta_plus = learning_rate, eta_minus, eta_plus
        self.min_step_size, self.max_step_size, self.maximize = (
            min_step_size,
            max_step_size,
            maximize,
        )

    def init_leaf(self, p):
        return np.full_like(p, float(self.learning_rate)), np.zeros_like(p)

    def update_leaf(self, key, p, g, state, alpha, t):
        delta, g_prev = (np.array(x, np.float64) for x in state)
        g = np.array(-g if self.maximize else g, np.float64)
        for i in np.ndindex(g.shape):
            product = g[i] * g_prev[i]
            if product > 0:
                delta[i] *= self.eta_plus
            elif product < 0:
                delta[i] *= self.eta_minus
                g[i] = 0.0
            delta[i] = min(max(delta[i], self.min_step_size), self.max_step_size)
        return p - delta * np.sign(g), (delta, g)


class ASGD(Optimizer):
    """Averaged SGD as torch.optim.ASGD (Polyak & Juditsky, 1992; Xu, 2011): with
    η_t = η₀/(1 + λη₀(t − 1))^a and μ_t = 1/max(1, t − 1 − t₀),

    g ← g + wd·θ; θ ← θ(1 − λη_t) − η_t·g; θ̄ ← θ if μ_t = 1, else θ̄ + μ_t(θ − θ̄).
    ``self.state[key]`` is θ̄.
    """

    def __init__(
        self,
        learning_rate=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=None,
        *,
        maximize=False,
        ax_dtype=None,
    ):
        del ax_dtype
        self.learning_rate, self.lambd, self.alpha, self.t0 = learning_rate, lambd, alpha, t0
        self.weight_decay, self.maximize = weight_decay, maximize

    def init_leaf(self, p):
        return np.array(p, np.float64)

    def update_leaf(self, key, p, g, ax, alpha, t):
        g = -g if self.maximize else g
        g = _l2(g, p, self.weight_decay)
        eta = alpha / (1 + self.lambd * alpha * (t - 1)) ** self.alpha
        mu = 1 / max(1.0, t - 1 - self.t0)
        p = p * (1 - self.lambd * eta) - eta * g
        ax = p.copy() if mu == 1 else ax + mu * (p - ax)
        return p, ax


class PolyakSGD:
    """SGD with the capped Polyak step (Loizou et al., 2021, SPS_max), in Optax's composition:
    u = −s_t·g; γ = min((f − f*)/(‖u‖² + ε), γ_max) (0 if ‖u‖² + ε ≤ float32's ε; the gap
    max(f − f*, 0) for "sps+"); θ ← θ + γu, with ‖u‖ over all leaves.

    ``step(params, grads, value)`` takes the loss f of the step.
    """

    def __init__(
        self,
        max_learning_rate=1.0,
        scaling=1.0,
        f_min=0.0,
        eps=0.0,
        variant="sps",
        *,
        maximize=False,
    ):
        self.max_learning_rate, self.scaling, self.f_min = max_learning_rate, scaling, f_min
        self.eps, self.variant, self.maximize = eps, variant, maximize

    def init(self, params):
        self.t = 0

    def step(self, params, grads, value):
        self.t += 1
        s = _rate(self.scaling, self.t - 1)
        u = {k: -s * (-g if self.maximize else g) for k, g in grads.items()}
        norm_sq = sum(float(np.sum(x * x)) for x in u.values())
        gap = value - self.f_min
        if self.variant == "sps+":
            gap = max(gap, 0.0)
        den = norm_sq + self.eps
        gamma = 0.0 if den <= np.finfo(np.float32).eps else min(gap / den, self.max_learning_rate)
        return {k: params[k] + gamma * u[k] for k in params}
