"""Float64 NumPy reference implementations, written from the papers' equations.

Nothing here imports gdtx: each rule is written out again, the natural way, in
float64 (1 − βᵗ by subtraction, Πμᵢ by multiplication, and so on), so that a
test comparing gdtx's float32 results against these checks the equations and
not a shared implementation.

Conventions:

- A parameter tree is a dict of float64 NumPy arrays; so are gradients.
- t counts steps from 1. A learning rate is a number or a schedule, a function
  of ``count = t − 1`` (the number of steps taken before the current one).
- A reference optimizer is a class with ``init(params)`` and
  ``step(params, grads) -> params``; it keeps its own state and step number.
- Blocks (:class:`Block` subclasses) are per-leaf rules that :class:`Chain`
  composes into an optimizer, each leaf computed by ``leaf(g, state, p, t)``.
- Algorithms (:class:`Optimizer` subclasses) are written as whole update rules,
  per leaf, from their papers, without reusing the blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Tree = dict[str, np.ndarray]
Rate = float | Callable[[int], float]


def _rate(learning_rate: Rate, count: int) -> float:
    """The learning rate for the step after ``count`` steps."""
    return float(learning_rate(count)) if callable(learning_rate) else float(learning_rate)


def _mask(mask: Any, key: str) -> bool:
    """Whether leaf ``key`` is selected: ``True``/``None`` select all, else a dict of bools."""
    if mask is None or mask is True:
        return True
    if mask is False:
        return False
    return bool(mask[key])


def run(
    opt: Any,
    params: Tree,
    grads: Sequence[Tree],
    values: Sequence[float] | np.ndarray | None = None,
) -> list[Tree]:
    """Runs a reference optimizer over ``grads``; returns the parameters after each step.

    ``values``: the loss of each step, for an optimizer that reads it
    (``step(params, grads, value)``)."""
    if values is not None and len(values) != len(grads):
        raise ValueError(f"{len(values)} values for {len(grads)} steps")
    params = {k: np.array(v, np.float64) for k, v in params.items()}
    opt.init(params)
    path = []
    for t, g in enumerate(grads):
        extra = () if values is None else (float(values[t]),)
        params = opt.step(params, {k: np.asarray(v, np.float64) for k, v in g.items()}, *extra)
        path.append(params)
    return path


# =======================================================================================
# Schedules: functions of count = t − 1, in float64.


def constant_schedule(value: float) -> Callable[[int], float]:
    """α(count) = value."""
    return lambda count: float(value)


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Callable[[int], float]:
    """α = α₀·r^p, p = (count − begin)/transition_steps (⌊p⌋ with staircase); α₀ until begin.

    ``end_value`` bounds the value: a floor when r < 1, a ceiling when r > 1.
    """

    def schedule(count: int) -> float:
        c = count - transition_begin
        if c <= 0:
            value = init_value
        else:
            p = c / transition_steps
            if staircase:
                p = math.floor(p)
            value = init_value * decay_rate**p
        if end_value is not None:
            value = max(value, end_value) if decay_rate < 1 else min(value, end_value)
        return float(value)

    return schedule


def inverse_time_decay(
    init_value: float, decay_rate: float = 1.0, steps_per_epoch: int = 1
) -> Callable[[int], float]:
    """α = α₀ / (1 + γ·epoch), epoch = ⌊count / steps_per_epoch⌋ (PyTorch Adagrad's lr_decay)."""
    return lambda count: init_value / (1.0 + decay_rate * (count // steps_per_epoch))


def inverse_sqrt_decay(
    init_value: float, steps_per_epoch: int | None = None
) -> Callable[[int], float]:
    """α = α₀/√t per step (t = count + 1), or α₀/√max(epoch, 1) per epoch."""
    if steps_per_epoch is None:
        return lambda count: init_value / math.sqrt(count + 1)
    return lambda count: init_value / math.sqrt(max(count // steps_per_epoch, 1))


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: dict[int, float]
) -> Callable[[int], float]:
    """α = α₀ times the scale of every boundary b with count ≥ b."""

    def schedule(count: int) -> float:
        value = init_value
        for boundary, scale in boundaries_and_scales.items():
            if count >= boundary:
                value *= scale
        return float(value)

    return schedule


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> Callable[[int], float]:
    """Linear interpolation from init to end over [begin, begin + transition_steps]."""

    def schedule(count: int) -> float:
        frac = min(max((count - transition_begin) / transition_steps, 0.0), 1.0)
        return init_value + (end_value - init_value) * frac

    return schedule


def cosine_decay_schedule(
    init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0
) -> Callable[[int], float]:
    """α = α₀·((1 − a)·(½(1 + cos(π·min(count, T)/T)))ᵉ + a) (Loshchilov & Hutter, SGDR)."""

    def schedule(count: int) -> float:
        c = min(count, decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * c / decay_steps))
        return init_value * ((1.0 - alpha) * cosine**exponent + alpha)

    return schedule


def join_schedules(
    schedules: Sequence[Callable[[int], float]], boundaries: Sequence[int]
) -> Callable[[int], float]:
    """From boundary b_i on, run schedule i+1 restarted at b_i (its count is count − b_i)."""

    def schedule(count: int) -> float:
        index, start = 0, 0
        for i, b in enumerate(boundaries):
            if count >= b:
                index, start = i + 1, b
        return schedules[index](count - start)

    return schedule


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> Callable[[int], float]:
    """Linear warm-up to the peak, then cosine from the peak to ``end_value``.

    ``decay_steps`` counts the warm-up: the cosine spans T = decay_steps − warmup_steps,
    α = end + (peak − end)·(½(1 + cos(π·min(c, T)/T)))ᵉ with c = count − warmup_steps.
    """

    def schedule(count: int) -> float:
        if count < warmup_steps:
            return init_value + (peak_value - init_value) * count / warmup_steps
        T = decay_steps - warmup_steps
        c = min(count - warmup_steps, T)
        cosine = 0.5 * (1.0 + math.cos(math.pi * c / T))
        return end_value + (peak_value - end_value) * cosine**exponent

    return schedule


# =======================================================================================
# Blocks: per-leaf rules composed by Chain.


class Block:
    """One transformation of the update stream, applied leaf by leaf.

    Subclasses define ``init_leaf(p) -> state`` and ``leaf(g, state, p, t) -> (out, state)``;
    a block that couples leaves (a global norm) overrides ``apply`` instead.
    """

    def init_leaf(self, p: np.ndarray) -> Any:
        return None

    def leaf(self, g: np.ndarray, state: Any, p: np.ndarray, t: int) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def init(self, params: Tree) -> dict[str, Any]:
        return {k: self.init_leaf(p) for k, p in params.items()}

    def apply(
        self, updates: Tree, states: dict[str, Any], params: Tree, t: int
    ) -> tuple[Tree, dict[str, Any]]:
        out, new = {}, {}
        for k in updates:
            out[k], new[k] = self.leaf(updates[k], states[k], params[k], t)
        return out, new


class Chain:
    """An optimizer made of blocks: u ← block_n(… block_1(g)), θ ← θ + u."""

    def __init__(self, *blocks: Block) -> None:
        self.blocks = blocks

    def init(self, params: Tree) -> None:
        self.t = 0
        self.states = [b.init(params) for b in self.blocks]

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.t += 1
        u = dict(grads)
        for i, block in enumerate(self.blocks):
            u, self.states[i] = block.apply(u, self.states[i], params, self.t)
        return {k: params[k] + u[k] for k in params}


class Ema(Block):
    """Exponential moving average: m ← βm + (1 − β)g; out = m, or m/(1 − βᵗ) when debiased.

    The debiasing is Adam's bias correction (Kingma & Ba, 2015, arXiv:1412.6980, §3).
    """

    def __init__(self, decay: float, debias: bool = True) -> None:
        self.decay, self.debias = decay, debias

    def init_leaf(self, p):
        return np.zeros_like(p)

    def leaf(self, g, m, p, t):
        b = self.decay
        m = b * m + (1 - b) * g
        return (m / (1 - b**t) if self.debias else m), m


class Trace(Block):
    """Heavy-ball momentum (Polyak, 1964) with Nesterov's variant (Sutskever et al., 2013).

    m₁ = g; m ← βm + (1 − τ)g for t > 1 (τ the dampening, the first-step rule as in
    torch.optim.SGD); out = m, or g + βm with Nesterov.
    """

    def __init__(self, decay: float, nesterov: bool = False, dampening: float = 0.0) -> None:
        self.decay, self.nesterov, self.dampening = decay, nesterov, dampening

    def init_leaf(self, p):
        return np.zeros_like(p)

    def leaf(self, g, m, p, t):
        m = g.copy() if t == 1 else self.decay * m + (1 - self.dampening) * g
        return (g + self.decay * m if self.nesterov else m), m


class ScaleByRms(Block):
    """RMSProp's scaling (Tieleman & Hinton, 2012, Lecture 6.5), centred as in Graves (2013,
    arXiv:1308.0850, eq. 38–41).

    v ← βv + (1 − β)g² from v₀ = initial_scale; centred: m ← βm + (1 − β)g, s = v − m²
    (with the bias correction, s = v/(1 − βᵗ) − (m/(1 − βᵗ))²); out = g/√(s + ε) or g/(√s + ε).
    """

    def __init__(
        self,
        decay: float = 0.9,
        eps: float = 1e-8,
        initial_scale: float = 0.0,
        eps_in_sqrt: bool = True,
        centered: bool = False,
        bias_correction: bool = False,
    ) -> None:
        self.decay, self.eps, self.initial_scale = decay, eps, initial_scale
        self.eps_in_sqrt, self.centered, self.bias_correction = (
            eps_in_sqrt,
            centered,
            bias_correction,
        )

    def init_leaf(self, p):
        return {"v": np.full_like(p, self.initial_scale), "m": np.zeros_like(p)}

    def leaf(self, g, s, p, t):
        b = self.decay
        v = b * s["v"] + (1 - b) * g**2
        m = b * s["m"] + (1 - b) * g
        c = 1 - b**t if self.bias_correction else 1.0
        second = v / c
        if self.centered:
            second = second - (m / c) ** 2
        denom = np.sqrt(second + self.eps) if self.eps_in_sqrt else np.sqrt(second) + self.eps
        return g / denom, {"v": v, "m": m}


class ScaleByRss(Block):
    """AdaGrad's scaling (Duchi, Hazan & Singer, 2011, JMLR 12; diagonal form).

    v ← v + g² from v₀ = initial_accumulator_value; out = g/(√v + ε) or g/√(v + ε);
    out = 0 where v = 0.
    """

    def __init__(
        self, initial_accumulator_value: float = 0.0, eps: float = 1e-10, eps_in_sqrt=False
    ) -> None:
        self.v0, self.eps, self.eps_in_sqrt = initial_accumulator_value, eps, eps_in_sqrt

    def init_leaf(self, p):
        return np.full_like(p, self.v0)

    def leaf(self, g, v, p, t):
        v = v + g**2
        denom = np.sqrt(v + self.eps) if self.eps_in_sqrt else np.sqrt(v) + self.eps
        out = np.zeros_like(g)
        nz = v > 0
        out[nz] = g[nz] / denom[nz]
        return out, v


class ScaleByAdadelta(Block):
    """Adadelta's step (Zeiler, 2012, arXiv:1212.5701, Algorithm 1), without the sign.

    E[g²] ← ρE[g²] + (1 − ρ)g²; Δ = RMS[Δ]_{t−1}/RMS[g]_t · g with RMS[y] = √(E[y²] + ε);
    E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ²; out = Δ.
    """

    def __init__(self, rho: float = 0.95, eps: float = 1e-6) -> None:
        self.rho, self.eps = rho, eps

    def init_leaf(self, p):
        return {"eg2": np.zeros_like(p), "edx2": np.zeros_like(p)}

    def leaf(self, g, s, p, t):
        rho, eps = self.rho, self.eps
        eg2 = rho * s["eg2"] + (1 - rho) * g**2
        dx = np.sqrt(s["edx2"] + eps) / np.sqrt(eg2 + eps) * g
        edx2 = rho * s["edx2"] + (1 - rho) * dx**2
        return dx, {"eg2": eg2, "edx2": edx2}


class ScaleByAdam(Block):
    """Adam's direction (Kingma & Ba, 2015, arXiv:1412.6980, Algorithm 1).

    m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; m̂ = m/(1 − β₁ᵗ); v̂ = v/(1 − β₂ᵗ);
    out = m̂/(√(v̂ + ε_root) + ε).
    """

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0) -> None:
        self.b1, self.b2, self.eps, self.eps_root = b1, b2, eps, eps_root

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def leaf(self, g, s, p, t):
        m = self.b1 * s["m"] + (1 - self.b1) * g
        v = self.b2 * s["v"] + (1 - self.b2) * g**2
        m_hat = m / (1 - self.b1**t)
        v_hat = v / (1 - self.b2**t)
        return m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps), {"m": m, "v": v}


class ScaleByAmsgrad(Block):
    """AMSGrad's direction (Reddi, Kale & Kumar, 2018, arXiv:1904.09237, Algorithm 2).

    m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; v_max ← max(v_max, v);
    out = (m/(1 − β₁ᵗ))/(√(v_max/(1 − β₂ᵗ)) + ε) (the paper's max of the raw v, with
    Adam's bias corrections, as torch.optim.Adam(amsgrad=True) does).
    """

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8) -> None:
        self.b1, self.b2, self.eps = b1, b2, eps

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p), "v_max": np.zeros_like(p)}

    def leaf(self, g, s, p, t):
        m = self.b1 * s["m"] + (1 - self.b1) * g
        v = self.b2 * s["v"] + (1 - self.b2) * g**2
        v_max = np.maximum(s["v_max"], v)
        out = (m / (1 - self.b1**t)) / (np.sqrt(v_max / (1 - self.b2**t)) + self.eps)
        return out, {"m": m, "v": v, "v_max": v_max}


class ScaleByAdamax(Block):
    """Adamax's direction (Kingma & Ba, 2015, arXiv:1412.6980, Algorithm 2).

    The paper has no ε. With ``eps_in_max`` (PyTorch's and Optax's form):
    m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε); out = m/((1 − β₁ᵗ)u).
    Without: u ← max(β₂u, |g|); out = m/((1 − β₁ᵗ)(u + ε)).
    """

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8, eps_in_max=True) -> None:
        self.b1, self.b2, self.eps, self.eps_in_max = b1, b2, eps, eps_in_max

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "u": np.zeros_like(p)}

    def leaf(self, g, s, p, t):
        m = self.b1 * s["m"] + (1 - self.b1) * g
        if self.eps_in_max:
            u = np.maximum(self.b2 * s["u"], np.abs(g) + self.eps)
            denom = (1 - self.b1**t) * u
        else:
            u = np.maximum(self.b2 * s["u"], np.abs(g))
            denom = (1 - self.b1**t) * (u + self.eps)
        return m / denom, {"m": m, "u": u}


def nadam_mu(b1: float, momentum_decay: float | None, t: int) -> float:
    """Dozat's momentum schedule μ_t = β₁(1 − ½·0.96^(tψ)); constant β₁ when ψ is None."""
    if momentum_decay is None:
        return b1
    return b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))


class ScaleByNadam(Block):
    """NAdam's direction (Dozat, 2016, "Incorporating Nesterov Momentum into Adam").

    μ_t = β₁(1 − ½·0.96^(tψ)); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    out = [(1 − μ_t)/(1 − Π_{i≤t}μ_i)·g + μ_{t+1}/(1 − Π_{i≤t+1}μ_i)·m] / (√(v/(1 − β₂ᵗ)) + ε).
    The first moment uses the constant β₁, as PyTorch's NAdam does; ψ = None gives
    μ_t = β₁ (Optax's nadam).
    """

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8, momentum_decay: float | None = 4e-3) -> None:
        self.b1, self.b2, self.eps, self.psi = b1, b2, eps, momentum_decay

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def leaf(self, g, s, p, t):
        mus = [nadam_mu(self.b1, self.psi, i) for i in range(1, t + 2)]  # μ₁ … μ_{t+1}
        prod_t = math.prod(mus[:t])
        prod_next = prod_t * mus[t]
        m = self.b1 * s["m"] + (1 - self.b1) * g
        v = self.b2 * s["v"] + (1 - self.b2) * g**2
        m_bar = (1 - mus[t - 1]) / (1 - prod_t) * g + mus[t] / (1 - prod_next) * m
        return m_bar / (np.sqrt(v / (1 - self.b2**t)) + self.eps), {"m": m, "v": v}


def trust_ratio(
    g: np.ndarray, p: np.ndarray, coefficient: float, eps: float, min_norm: float = 0.0
) -> float:
    """LARS's local rate η‖θ‖/(‖g‖ + ε) for one layer; 1 where either norm is ≤ min_norm."""
    p_norm = float(np.sqrt(np.sum(p**2)))
    g_norm = float(np.sqrt(np.sum(g**2)))
    if p_norm <= min_norm or g_norm <= min_norm:
        return 1.0
    return coefficient * p_norm / (g_norm + eps)


class ScaleByTrustRatio(Block):
    """The layer-wise trust ratio (You, Gitman & Ginsburg, 2017, arXiv:1708.03888).

    out = η‖θ‖/(‖g‖ + ε)·g per leaf, where g already carries any weight decay (the
    paper's denominator is ‖∇L‖ + λ‖θ‖; Optax and gdtx use the norm of the sum);
    ratio 1 where ‖θ‖ or ‖g‖ is at most ``min_norm``.
    """

    def __init__(self, trust_coefficient=1.0, eps=0.0, min_norm=0.0) -> None:
        self.coefficient, self.eps, self.min_norm = trust_coefficient, eps, min_norm

    def leaf(self, g, s, p, t):
        return trust_ratio(g, p, self.coefficient, self.eps, self.min_norm) * g, s


class AddDecayedWeights(Block):
    """Weight decay: out = g + λθ on the selected leaves (Loshchilov & Hutter, 2019)."""

    def __init__(self, weight_decay: float, mask: Any = None) -> None:
        self.weight_decay, self.mask = weight_decay, mask

    def apply(self, updates, states, params, t):
        out = {
            k: (g + self.weight_decay * params[k] if _mask(self.mask, k) else g)
            for k, g in updates.items()
        }
        return out, states


class Clip(Block):
    """Element-wise clipping: out = min(max(g, −δ), δ)."""

    def __init__(self, max_delta: float) -> None:
        self.max_delta = max_delta

    def leaf(self, g, s, p, t):
        return np.minimum(np.maximum(g, -self.max_delta), self.max_delta), s


class ClipByGlobalNorm(Block):
    """Gradient-norm clipping (Pascanu, Mikolov & Bengio, 2013, Algorithm 1).

    ‖g‖ = √(Σ over all leaves of Σg²); out = g·c/‖g‖ when ‖g‖ > c, else g.
    """

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def apply(self, updates, states, params, t):
        norm = math.sqrt(sum(float(np.sum(g**2)) for g in updates.values()))
        factor = self.max_norm / norm if norm > self.max_norm else 1.0
        return {k: g * factor for k, g in updates.items()}, states


class Scale(Block):
    """out = s·g."""

    def __init__(self, step_size: float) -> None:
        self.step_size = step_size

    def leaf(self, g, s, p, t):
        return self.step_size * g, s


class ScaleBySchedule(Block):
    """out = s(t − 1)·g."""

    def __init__(self, schedule: Callable[[int], float]) -> None:
        self.schedule = schedule

    def leaf(self, g, s, p, t):
        return self.schedule(t - 1) * g, s


class Masked(Block):
    """Applies ``inner`` to the leaves selected by ``mask`` (a dict of bools); others pass."""

    def __init__(self, inner: Block, mask: dict[str, bool]) -> None:
        self.inner, self.mask = inner, mask

    def init(self, params):
        return self.inner.init({k: p for k, p in params.items() if self.mask[k]})

    def apply(self, updates, states, params, t):
        keys = [k for k in updates if self.mask[k]]
        out, states = self.inner.apply(
            {k: updates[k] for k in keys}, states, {k: params[k] for k in keys}, t
        )
        return {k: out.get(k, g) for k, g in updates.items()}, states


class LearningRate(Block):
    """The descent step: out = −α_t·g with α_t = schedule(t − 1) (or +α_t·g without the flip)."""

    def __init__(self, learning_rate: Rate, flip_sign: bool = True) -> None:
        self.learning_rate, self.flip_sign = learning_rate, flip_sign

    def leaf(self, g, s, p, t):
        alpha = _rate(self.learning_rate, t - 1)
        return (-alpha if self.flip_sign else alpha) * g, s


# =======================================================================================
# Algorithms: whole update rules, per leaf.


class Optimizer:
    """A reference optimizer that updates each leaf on its own.

    Subclasses define ``init_leaf(p) -> state`` and
    ``update_leaf(p, g, state, alpha, t) -> (new p, state)``, where α is the learning
    rate of step t.
    """

    learning_rate: Rate

    def init_leaf(self, p: np.ndarray) -> Any:
        return None

    def update_leaf(
        self, key: str, p: np.ndarray, g: np.ndarray, state: Any, alpha: float, t: int
    ) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def init(self, params: Tree) -> None:
        self.t = 0
        self.state = {k: self.init_leaf(p) for k, p in params.items()}

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.t += 1
        alpha = _rate(self.learning_rate, self.t - 1)
        new = {}
        for k in params:
            new[k], self.state[k] = self.update_leaf(
                k, params[k], grads[k], self.state[k], alpha, self.t
            )
        return new


def _l2(g: np.ndarray, p: np.ndarray, weight_decay: float | None) -> np.ndarray:
    """PyTorch-style L2: g + λθ (nothing for None)."""
    return g if weight_decay is None else g + weight_decay * p


class SGD(Optimizer):
    """SGD with heavy-ball (Polyak, 1964) or Nesterov (Sutskever et al., 2013) momentum.

    g ← g + λθ; b₁ = g, b ← μb + (1 − τ)g; d = g + μb (Nesterov) or b; θ ← θ − αd.
    (torch.optim.SGD's formulation; plain θ ← θ − αg without momentum.)
    """

    def __init__(
        self, learning_rate, momentum=None, nesterov=False, dampening=0.0, weight_decay=None
    ):
        self.learning_rate, self.momentum, self.nesterov = learning_rate, momentum, nesterov
        self.dampening, self.weight_decay = dampening, weight_decay

    def init_leaf(self, p):
        return np.zeros_like(p)

    def update_leaf(self, key, p, g, b, alpha, t):
        g = _l2(g, p, self.weight_decay)
        if self.momentum is None:
            return p - alpha * g, b
        mu = self.momentum
        b = g.copy() if t == 1 else mu * b + (1 - self.dampening) * g
        d = g + mu * b if self.nesterov else b
        return p - alpha * d, b


class Momentum(Optimizer):
    """Momentum in its two textbook forms.

    EWMA form: v ← βv + (1 − β)g (optionally v̂ = v/(1 − βᵗ)); θ ← θ − αv.
    Trace form (Polyak, 1964): m ← βm + g; θ ← θ − αm, or θ ← θ − α(g + βm) with
    Nesterov (Sutskever et al., 2013).
    """

    def __init__(self, learning_rate, beta=0.9, form="ewma", debias=False, nesterov=False):
        self.learning_rate, self.beta, self.form = learning_rate, beta, form
        self.debias, self.nesterov = debias, nesterov

    def init_leaf(self, p):
        return np.zeros_like(p)

    def update_leaf(self, key, p, g, m, alpha, t):
        b = self.beta
        if self.form == "ewma":
            m = b * m + (1 - b) * g
            d = m / (1 - b**t) if self.debias else m
        else:
            m = b * m + g
            d = g + b * m if self.nesterov else m
        return p - alpha * d, m


class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer, 2011, JMLR 12), diagonal form.

    g ← g + λθ; G ← G + g² from G₀ = initial_accumulator_value;
    θ ← θ − α·g/(√G + ε), or θ ← θ − α·g/√(G + ε) with ``eps_in_sqrt``.
    """

    def __init__(
        self,
        learning_rate,
        initial_accumulator_value=0.0,
        eps=1e-10,
        eps_in_sqrt=False,
        weight_decay=None,
    ):
        self.learning_rate, self.G0, self.eps = learning_rate, initial_accumulator_value, eps
        self.eps_in_sqrt, self.weight_decay = eps_in_sqrt, weight_decay

    def init_leaf(self, p):
        return np.full_like(p, self.G0)

    def update_leaf(self, key, p, g, G, alpha, t):
        g = _l2(g, p, self.weight_decay)
        G = G + g**2
        denom = np.sqrt(G + self.eps) if self.eps_in_sqrt else np.sqrt(G) + self.eps
        return p - alpha * g / denom, G


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton, 2012), centred as in Graves (2013, arXiv:1308.0850, eq. 38–41).

    g ← g + λθ; n ← βn + (1 − β)g² (n₀ = initial_scale); centred: ḡ ← βḡ + (1 − β)g;
    with bias correction n̂ = n/(1 − βᵗ), ḡ̂ = ḡ/(1 − βᵗ); s = n̂ − ḡ̂² (centred) or n̂;
    r = g/√(s + ε) (or g/(√s + ε)). Without momentum θ ← θ − αr; with momentum μ
    (torch.optim.RMSprop's buffer) b ← μb + r, θ ← θ − αb (θ ← θ − α(r + μb) with
    Nesterov). Graves keeps α inside the buffer, Δ ← μΔ − αr: the same for a constant α.
    """

    def __init__(
        self,
        learning_rate,
        decay=0.9,
        eps=1e-8,
        initial_scale=0.0,
        eps_in_sqrt=True,
        centered=False,
        momentum=None,
        nesterov=False,
        bias_correction=False,
        weight_decay=None,
    ):
        self.learning_rate, self.decay, self.eps, self.n0 = learning_rate, decay, eps, initial_scale
        self.eps_in_sqrt, self.centered, self.momentum = eps_in_sqrt, centered, momentum
        self.nesterov, self.bias_correction = nesterov, bias_correction
        self.weight_decay = weight_decay

    def init_leaf(self, p):
        return {"n": np.full_like(p, self.n0), "gbar": np.zeros_like(p), "b": np.zeros_like(p)}

    def update_leaf(self, key, p, g, s, alpha, t):
        beta = self.decay
        g = _l2(g, p, self.weight_decay)
        n = beta * s["n"] + (1 - beta) * g**2
        gbar = beta * s["gbar"] + (1 - beta) * g
        c = 1 - beta**t if self.bias_correction else 1.0
        second = n / c - (gbar / c) ** 2 if self.centered else n / c
        denom = np.sqrt(second + self.eps) if self.eps_in_sqrt else np.sqrt(second) + self.eps
        r = g / denom
        b = s["b"]
        if self.momentum is None:
            d = r
        else:
            b = self.momentum * b + r
            d = r + self.momentum * b if self.nesterov else b
        return p - alpha * d, {"n": n, "gbar": gbar, "b": b}


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012, arXiv:1212.5701, Algorithm 1), times a learning rate α.

    g ← g + λθ; E[g²] ← ρE[g²] + (1 − ρ)g²; Δx = −√(E[Δx²] + ε)/√(E[g²] + ε)·g;
    E[Δx²] ← ρE[Δx²] + (1 − ρ)Δx²; θ ← θ + αΔx (the paper's α = 1; the accumulated
    Δx is the one before α, as in torch.optim.Adadelta).
    """

    def __init__(self, learning_rate=1.0, rho=0.95, eps=1e-6, weight_decay=None):
        self.learning_rate, self.rho, self.eps = learning_rate, rho, eps
        self.weight_decay = weight_decay

    def init_leaf(self, p):
        return {"eg2": np.zeros_like(p), "edx2": np.zeros_like(p)}

    def update_leaf(self, key, p, g, s, alpha, t):
        rho, eps = self.rho, self.eps
        g = _l2(g, p, self.weight_decay)
        eg2 = rho * s["eg2"] + (1 - rho) * g * g
        dx = -np.sqrt(s["edx2"] + eps) / np.sqrt(eg2 + eps) * g
        edx2 = rho * s["edx2"] + (1 - rho) * dx * dx
        return p + alpha * dx, {"eg2": eg2, "edx2": edx2}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015, arXiv:1412.6980, Algorithm 1).

    g ← g + λθ (L2, optional); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    m̂ = m/(1 − β₁ᵗ); v̂ = v/(1 − β₂ᵗ); θ ← θ − α·m̂/(√(v̂ + ε_root) + ε).
    """

    def __init__(self, learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, weight_decay=None):
        self.learning_rate, self.b1, self.b2 = learning_rate, b1, b2
        self.eps, self.eps_root, self.weight_decay = eps, eps_root, weight_decay

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def direction(self, g, s, t):
        m = self.b1 * s["m"] + (1 - self.b1) * g
        v = self.b2 * s["v"] + (1 - self.b2) * g * g
        m_hat = m / (1 - self.b1**t)
        v_hat = v / (1 - self.b2**t)
        return m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps), {"m": m, "v": v}

    def update_leaf(self, key, p, g, s, alpha, t):
        d, s = self.direction(_l2(g, p, self.weight_decay), s, t)
        return p - alpha * d, s


class DecoupledDecay:
    """AdamW's decoupled decay after a class's ``direction`` d (Loshchilov & Hutter, 2019):
    θ ← θ − α(d + λθ), with λ = ``self.decoupled`` on the leaves ``self.mask`` selects.
    Listed first among the bases, its ``update_leaf`` replaces the optimizer's."""

    decoupled: float
    mask: Any

    def update_leaf(self, key, p, g, s, alpha, t):
        d, s = self.direction(g, s, t)  # type: ignore[attr-defined]
        lam = self.decoupled if _mask(self.mask, key) else 0.0
        return p - alpha * (d + lam * p), s


class AdamW(DecoupledDecay, Adam):
    """AdamW (Loshchilov & Hutter, 2019, arXiv:1711.05101, Algorithm 2).

    Adam's m̂/(√v̂ + ε) from the plain gradient; θ ← θ − α(m̂/(√v̂ + ε) + λθ), the decay
    decoupled from the moments. As in torch.optim.AdamW and Optax, λθ is multiplied by the
    learning rate α; the paper multiplies it by the schedule multiplier η_t alone, so its
    λ is α·λ here. ``mask`` (dict of bools) selects the leaves that decay.
    """

    def __init__(
        self, learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, weight_decay=1e-4, mask=None
    ):
        super().__init__(learning_rate, b1, b2, eps, eps_root)
        self.decoupled, self.mask = weight_decay, mask


def AMSGrad(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=None) -> Chain:
    """AMSGrad (Reddi, Kale & Kumar, 2018, arXiv:1904.09237): L2 (g ← g + λθ, optional),
    then :class:`ScaleByAmsgrad`'s max over the raw v, then the learning rate."""
    decay = () if weight_decay is None else (AddDecayedWeights(weight_decay),)
    return Chain(*decay, ScaleByAmsgrad(b1, b2, eps), LearningRate(learning_rate))


class Adamax(Optimizer):
    """Adamax (Kingma & Ba, 2015, arXiv:1412.6980, Algorithm 2, §7.1).

    g ← g + λθ; m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε); θ ← θ − (α/(1 − β₁ᵗ))·m/u
    (with ``eps_in_max=False``: u ← max(β₂u, |g|) and the denominator is u + ε).
    """

    def __init__(
        self, learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_in_max=True, weight_decay=None
    ):
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, eps
        self.eps_in_max, self.weight_decay = eps_in_max, weight_decay

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "u": np.zeros_like(p)}

    def direction(self, g, s, t):
        """m/((1 − β₁ᵗ)u) (or m/((1 − β₁ᵗ)(u + ε))) and the new state."""
        m = self.b1 * s["m"] + (1 - self.b1) * g
        if self.eps_in_max:
            u = np.maximum(self.b2 * s["u"], np.abs(g) + self.eps)
            d = m / ((1 - self.b1**t) * u)
        else:
            u = np.maximum(self.b2 * s["u"], np.abs(g))
            d = m / ((1 - self.b1**t) * (u + self.eps))
        return d, {"m": m, "u": u}

    def update_leaf(self, key, p, g, s, alpha, t):
        d, s = self.direction(_l2(g, p, self.weight_decay), s, t)
        return p - alpha * d, s


class NAdam(Optimizer):
    """NAdam (Dozat, 2016, "Incorporating Nesterov Momentum into Adam", ICLR workshop).

    μ_t = β₁(1 − ½·0.96^(tψ)) (ψ = momentum_decay; μ_t = β₁ when ψ is None);
    g ← g + λθ; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    m̄ = (1 − μ_t)g/(1 − Π_{i=1}^{t} μ_i) + μ_{t+1}m/(1 − Π_{i=1}^{t+1} μ_i);
    θ ← θ − α·m̄/(√(v/(1 − β₂ᵗ) + ε_root) + ε). The EWMA of g uses the constant β₁, as in
    PyTorch's documented NAdam.
    """

    def __init__(
        self,
        learning_rate,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        momentum_decay=4e-3,
        weight_decay=None,
        eps_root=0.0,
    ):
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, eps
        self.psi, self.weight_decay, self.eps_root = momentum_decay, weight_decay, eps_root

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _mu(self, t: int) -> float:
        if self.psi is None:
            return self.b1
        return self.b1 * (1.0 - 0.5 * 0.96 ** (t * self.psi))

    def direction(self, g, s, t):
        """m̄/(√(v/(1 − β₂ᵗ) + ε_root) + ε) and the new state."""
        prod_t = math.prod(self._mu(i) for i in range(1, t + 1))
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        m = self.b1 * s["m"] + (1 - self.b1) * g
        v = self.b2 * s["v"] + (1 - self.b2) * g * g
        m_bar = (1 - mu_t) * g / (1 - prod_t) + mu_next * m / (1 - prod_t * mu_next)
        d = m_bar / (np.sqrt(v / (1 - self.b2**t) + self.eps_root) + self.eps)
        return d, {"m": m, "v": v}

    def update_leaf(self, key, p, g, s, alpha, t):
        d, s = self.direction(_l2(g, p, self.weight_decay), s, t)
        return p - alpha * d, s


class LARS(Optimizer):
    """LARS (You, Gitman & Ginsburg, 2017, arXiv:1708.03888, Algorithm 1).

    Per layer: g ← g + λθ (leaves in ``weight_decay_mask``); r = η‖θ‖/(‖g‖ + ε)
    (leaves in ``trust_ratio_mask``; r = 1 where a norm is zero, or outside the mask);
    v ← μv + α·r·g (v₁ = α·r·g); θ ← θ − v, or θ ← θ − (α·r·g + μv) with Nesterov.
    The trust ratio divides by the norm of g + λθ (Optax's form); the paper divides by
    ‖∇L‖ + λ‖θ‖, the same when λ = 0.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=0.0,
        weight_decay_mask=True,
        trust_coefficient=0.001,
        eps=0.0,
        trust_ratio_mask=True,
        momentum=0.9,
        nesterov=False,
    ):
        self.learning_rate, self.weight_decay, self.wd_mask = (
            learning_rate,
            weight_decay,
            weight_decay_mask,
        )
        self.eta, self.eps, self.tr_mask = trust_coefficient, eps, trust_ratio_mask
        self.momentum, self.nesterov = momentum, nesterov

    def init_leaf(self, p):
        return np.zeros_like(p)

    def update_leaf(self, key, p, g, v, alpha, t):
        if _mask(self.wd_mask, key):
            g = g + self.weight_decay * p
        r = trust_ratio(g, p, self.eta, self.eps) if _mask(self.tr_mask, key) else 1.0
        local = alpha * r * g
        v = self.momentum * v + local
        return p - (local + self.momentum * v if self.nesterov else v), v


# =======================================================================================
# Matrix blocks: per matrix, written with the paper's sums.


class FactoredRms(Block):
    """Adafactor's factored second moment (Shazeer & Stern, 2018, arXiv:1804.04235,
    Algorithm 4 with a constant β₂, without relative step size or update clipping).

    For each matrix G (r × c) of a leaf of shape (..., r, c) whose last two dimensions
    are both ≥ ``min_dim``: R ← β₂R + (1 − β₂)(G² + ε₁1ₙ1ₘᵀ)1ₘ (row sums),
    C ← β₂C + (1 − β₂)1ₙᵀ(G² + ε₁1ₙ1ₘᵀ) (column sums), V̂ = RC/(1ₙᵀR), out = G/√V̂.
    Other leaves: v ← β₂v + (1 − β₂)(g² + ε₁), out = g/√v.
    """

    def __init__(self, decay: float, eps: float = 1e-30, min_dim: int = 128) -> None:
        self.decay, self.eps, self.min_dim = decay, eps, min_dim

    def factored(self, shape: tuple[int, ...]) -> bool:
        return len(shape) >= 2 and min(shape[-2:]) >= self.min_dim

    def init_leaf(self, p):
        if self.factored(p.shape):
            return np.zeros(p.shape[:-1]), np.zeros(p.shape[:-2] + p.shape[-1:])
        return np.zeros_like(p)

    def leaf(self, g, state, p, t):
        b, sq = self.decay, g * g + self.eps
        if not self.factored(g.shape):
            v = b * state + (1 - b) * sq
            return g / np.sqrt(v), v
        rows, cols = state
        out = np.empty_like(g)
        rows, cols = rows.copy(), cols.copy()
        for idx in np.ndindex(*g.shape[:-2]):  # each matrix of the stack
            rows[idx] = b * rows[idx] + (1 - b) * sq[idx] @ np.ones(g.shape[-1])
            cols[idx] = b * cols[idx] + (1 - b) * np.ones(g.shape[-2]) @ sq[idx]
            v_hat = np.outer(rows[idx], cols[idx]) / np.sum(rows[idx])
            out[idx] = g[idx] / np.sqrt(v_hat)
        return out, (rows, cols)


class Lion(Optimizer):
    """Lion (Chen et al., 2023, arXiv:2302.06675, Algorithm 2).

    c = β₁m + (1 − β₁)g; θ ← θ − α(sign(c) + λθ); m ← β₂m + (1 − β₂)g, with the decay on
    the leaves ``mask`` (dict of bools) selects.
    """

    def __init__(self, learning_rate, b1=0.9, b2=0.99, m_dtype=None, weight_decay=1e-3, mask=None):
        del m_dtype
        self.learning_rate, self.b1, self.b2 = learning_rate, b1, b2
        self.weight_decay, self.mask = weight_decay, mask

    def init_leaf(self, p):
        return np.zeros_like(p)

    def update_leaf(self, key, p, g, m, alpha, t):
        c = self.b1 * m + (1 - self.b1) * g
        lam = self.weight_decay if _mask(self.mask, key) else 0.0
        new_p = p - alpha * (np.sign(c) + lam * p)
        return new_p, self.b2 * m + (1 - self.b2) * g
