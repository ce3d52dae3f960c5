r"""Muon: momentum orthogonalised by a Newton–Schulz iteration, for the matrices of a model.

The blocks read the updates through :func:`~gdtx.map_matrices` and
:func:`~gdtx.map_stacked`, so they run per leaf and on packed buffers alike; packed,
a run of k matrices of one shape is one batched iteration (one ``(k, r, c)`` product
per step), not k of them.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ._adam import first_moment, scale_by_adam, scale_by_nadam
from ._base import Context, EmptyState, Params, Transform, Updates, compute_dtype, hyper, static
from ._combine import Chain
from ._groups import partition
from ._masks import MaskLike, freeze_mask, mask_leaves
from ._matrix import Shape, map_matrices, map_stacked
from ._newton_schulz import NS_COEFFS, check_ns_method, newton_schulz, ns_coefficients
from ._optim import ScalarOrSchedule, lr_block, sign
from ._scale import AddDecayedWeights
from ._tree import check_real
from ._validate import check_range


class Orthogonalize(Transform):
    r"""Replaces each matrix by a Newton–Schulz approximation of its orthogonal polar factor
    (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks").

    For each matrix G of a leaf of shape ``(..., r, c)`` (leading dimensions are a stack
    of matrices), with (a, b, c) = (3.4445, −4.7750, 2.0315) applied ``ns_steps`` times:

    $$ X_0 = \frac{G}{\lVert G\rVert_F + \varepsilon}, \qquad
       X \leftarrow a X + \bigl(b\, X X^\top + c\,(X X^\top)^2\bigr) X, \qquad
       \text{out} = X \;\text{ or, adaptive, }\; \langle G, X\rangle_F\, X $$

    The iteration drives every singular value of X₀ into roughly [0.7, 1.2]: out ≈ UVᵀ
    where G = USVᵀ. ``adaptive`` scales it by the dual norm ⟨G, X⟩ (Bernstein &
    Newhouse, 2024, arXiv:2409.20325), as Optax's ``adaptive``, matrix by matrix (Optax
    sums ⟨G, X⟩ over a whole leaf, stacks included). Leaves with fewer
    than two dimensions pass unchanged. Packed, a run of k equal-shape matrices is one
    batched iteration. ``torch.optim.Muon`` divides by max(‖G‖, ε) rather than
    ‖G‖ + ε: the same unless ‖G‖ is below ε.

    Attributes:
        coeffs: one (a, b, c) triple per step (``scale_by_muon`` builds it from
            ``ns_coeffs`` and ``ns_steps``).
        eps: ε ≥ 0.
        adaptive: static: scale by ⟨G, X⟩.
        ns_dtype: static: the dtype of the iteration (default: at least float32;
            ``torch.optim.Muon`` uses bfloat16).
        ns_method: static: ``"standard"``, or ``"gram"`` to iterate on the r × r Gram
            matrices of wide matrices where that needs fewer products (Dao AI Lab,
            2026, "Gram Newton-Schulz"; c > 1.5r for five steps, a fifth fewer at
            c = 4r), restarted every two steps. The same iteration: the results agree
            to rounding.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.orthogonalize()
        >>> g = {"w": jnp.array([[3.0, 0.0], [0.0, 0.5]]), "b": jnp.array([2.0])}
        >>> out, _ = tx.update(g, tx.init(g))
        >>> out["w"].round(2)  # singular values 3 and 0.5 both brought near 1
        Array([[0.71, 0.  ],
               [0.  , 1.04]], dtype=float32)
        >>> out["b"]
        Array([2.], dtype=float32)
    """

    coeffs: Any = NS_COEFFS["standard"] * 5
    eps: Any = 1e-8
    adaptive: bool = static(default=False)
    ns_dtype: Any = static(default=None)
    ns_method: str = static(default="standard")

    def __post_init__(self) -> None:
        coeffs = ns_coefficients("orthogonalize", self.coeffs, 5)
        object.__setattr__(self, "coeffs", coeffs)
        check_range("orthogonalize", "eps", self.eps, 0.0)
        if self.ns_dtype is not None:
            object.__setattr__(self, "ns_dtype", jnp.dtype(self.ns_dtype))
        check_ns_method("orthogonalize", self.ns_method)

    def init_state(self, params: Params) -> EmptyState:
        why = "its Newton–Schulz iteration is written for real matrices"
        check_real("orthogonalize", params, why)
        return EmptyState()

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        def matrices(g: jax.Array) -> jax.Array:  # g: (k, r, c)
            x = newton_schulz(g, self.coeffs, self.eps, self.ns_dtype, self.ns_method)
            if not self.adaptive:
                return x
            ct = compute_dtype(g.dtype)
            dual = jnp.sum(g.astype(ct) * x.astype(ct), axis=(-2, -1), keepdims=True)  # ⟨G, X⟩
            return (dual * x.astype(ct)).astype(g.dtype)

        return map_matrices(matrices, updates), state


orthogonalize = Orthogonalize


class ScaleByShape(Transform):
    r"""Scales each matrix by a factor of its shape, so that Muon's update has a chosen RMS.

    For a matrix of ``fan_in`` × ``fan_out`` (its last two dimensions, read as the
    ``fan_in_axis`` says):

    $$ \text{out} = \sqrt{\max\!\bigl(1, \tfrac{\text{fan\_out}}{\text{fan\_in}}\bigr)}\; g
       \qquad\text{or}\qquad
       \text{out} = \rho\,\sqrt{\max(\text{fan\_in}, \text{fan\_out})}\; g $$

    The first is Jordan's width scaling (``torch.optim.Muon``'s ``adjust_lr_fn=
    "original"``); the second, with ρ = ``consistent_rms``, gives an orthogonal matrix
    the RMS ρ (Liu et al., 2025, "Muon is Scalable for LLM Training",
    arXiv:2502.16982; ρ = 0.2 is torch's ``"match_rms_adamw"``). Leaves with fewer
    than two dimensions pass unchanged.

    Attributes:
        consistent_rms: ρ > 0, or ``None`` for the width scaling.
        fan_in_axis: static: -2 when a matrix is (fan_in, fan_out), ``x @ W`` as in
            JAX, Flax and Optax; -1 when it is (fan_out, fan_in), ``W @ x`` as
            ``torch.nn.Linear``'s weight (torch's Muon scales by √max(1, rows/cols)).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_shape()
        >>> g = {"w": jnp.ones((2, 8)), "b": jnp.ones(3)}
        >>> out, _ = tx.update(g, tx.init(g))
        >>> out["w"][0, 0], out["b"][0]  # √(8 / 2)
        (Array(2., dtype=float32), Array(1., dtype=float32))
    """

    consistent_rms: Any = None
    fan_in_axis: int = static(default=-2)

    def __post_init__(self) -> None:
        if self.consistent_rms is not None:
            check_range("scale_by_shape", "consistent_rms", self.consistent_rms, 0.0)
        if self.fan_in_axis not in (-2, -1):
            raise ValueError(
                f"scale_by_shape: `fan_in_axis` must be -2 or -1, got {self.fan_in_axis!r}."
            )

    def factor(self, shape: Shape, dtype: Any) -> Any:
        """The factor of a matrix of this shape."""
        rows, cols = shape[-2:]
        fan_in, fan_out = (rows, cols) if self.fan_in_axis == -2 else (cols, rows)
        if self.consistent_rms is None:
            return hyper(math.sqrt(max(1.0, fan_out / fan_in)), dtype)
        return hyper(self.consistent_rms, dtype) * hyper(math.sqrt(max(fan_in, fan_out)), dtype)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        def scale(shape: Shape, g: jax.Array) -> jax.Array:
            if len(shape) < 2 or 0 in shape[-2:]:
                return g
            ct = compute_dtype(g.dtype)
            return (self.factor(shape, ct) * g.astype(ct)).astype(g.dtype)

        return map_stacked(scale, updates), state


scale_by_shape = ScaleByShape


def scale_by_muon(
    ns_coeffs: Any = NS_COEFFS["standard"][0],
    ns_steps: int = 5,
    beta: Any = 0.95,
    eps: Any = 1e-8,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    debias: bool = True,
    ns_dtype: Any = None,
    ns_method: str = "standard",
) -> Chain:
    r"""Muon's direction: the orthogonalised (Nesterov) momentum of each matrix.

    $$ m \leftarrow \beta m + (1-\beta) g, \qquad
       u = \frac{(1-\beta)\, g}{1-\beta^t} + \frac{\beta\, m}{1-\beta^{t+1}}
       \;\text{(Nesterov; } \tfrac{m}{1-\beta^t} \text{ without)}, \qquad
       \text{out} = \operatorname{NS}(u) $$

    with NS :class:`Orthogonalize`. The chain: ``chain(nesterov_ema(β, None),
    orthogonalize(...))`` (``ema(β)`` without Nesterov). ``debias=False`` drops the two
    corrections, u = (1 − β)g + βm, as Jordan's reference code and ``torch.optim.Muon``
    do (the Optax default keeps them; the normalisation inside NS cancels most of
    their effect).

    Args:
        ns_coeffs: (a, b, c), one triple per step, or a name: ``"standard"``
            (Jordan's) or ``"dion"``.
        ns_steps: the number of steps of a single triple (≥ 1).
        beta: β in [0, 1).
        eps: ε ≥ 0 of the normalisation.
        mu_dtype: dtype of m (default: the parameter's).
        nesterov: Nesterov's look-ahead.
        adaptive: scale by the dual norm ⟨u, NS(u)⟩ (Optax's ``adaptive``).
        debias: the bias corrections (Optax) or none (Jordan, torch).
        ns_dtype: the dtype of the iteration (default: at least float32).
        ns_method: ``"standard"`` or ``"gram"`` (see :class:`Orthogonalize`).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_muon()
        >>> g = jnp.array([[2.0, 0.0], [0.0, 2.0]])
        >>> tx.update(g, tx.init(g))[0].round(3)  # NS(I/√2): singular values ≈ 1
        Array([[1.108, 0.   ],
               [0.   , 1.108]], dtype=float32)
    """
    coeffs = ns_coefficients("scale_by_muon", ns_coeffs, ns_steps)
    check_ns_method("scale_by_muon", ns_method)
    check_range("scale_by_muon", "beta", beta, 0.0, 1.0, high_open=True)
    check_range("scale_by_muon", "eps", eps, 0.0)
    momentum = first_moment(beta, mu_dtype, nesterov, debias)
    orthogonalize = Orthogonalize(
        coeffs, eps, adaptive=adaptive, ns_dtype=ns_dtype, ns_method=ns_method
    )
    return Chain((momentum, orthogonalize))


class _MuonLabels:
    """Labels each leaf ``"muon"`` or ``"adam"`` from a mask (hashable, for ``partition``)."""

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def __call__(self, params: Params) -> Any:
        leaves, treedef = jax.tree.flatten(params)
        if self.mask is None:
            flags = [len(x.shape) == 2 for x in leaves]
        else:
            flags = list(mask_leaves("muon", self.mask, params))
        with_paths = jax.tree_util.tree_flatten_with_path(params)[0]
        bad = [
            jax.tree_util.keystr(p)
            for (p, x), f in zip(with_paths, flags, strict=True)
            if f and len(x.shape) < 2
        ]
        if bad:
            raise ValueError(
                "muon: `muon_mask` selects leaves with fewer than two dimensions, which are "
                f"not matrices: {', '.join(bad)}."
            )
        return jax.tree.unflatten(treedef, ["muon" if f else "adam" for f in flags])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MuonLabels) and other.mask == self.mask

    def __hash__(self) -> int:
        return hash(("muon labels", self.mask))


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = NS_COEFFS["standard"][0],
    ns_steps: int = 5,
    beta: Any = 0.95,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    weight_decay_mask: Any = None,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    adam_b1: Any = 0.9,
    adam_b2: Any = 0.999,
    adam_eps_root: Any = 0.0,
    adam_weight_decay: Any = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    consistent_rms: Any = None,
    muon_mask: MaskLike | None = None,
    other_optimizer: Any = None,
    debias: bool = True,
    fan_in_axis: int = -2,
    ns_dtype: Any = None,
    ns_method: str = "standard",
    maximize: bool = False,
) -> Chain:
    r"""Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks").

    The matrices (by default every leaf with exactly two dimensions, the rule of Optax
    and torch) follow θ ← θ − α(s·NS(u) + λθ), with u the (Nesterov) momentum and NS
    the Newton–Schulz orthogonalisation of :func:`scale_by_muon`, and s the shape
    factor of :class:`ScaleByShape`; every other leaf (biases, norms, embeddings if
    excluded by ``muon_mask``) goes to AdamW with Nesterov momentum, as in Optax's
    ``optax.contrib.muon``, or to ``other_optimizer``. The whole is ``partition({"muon":
    chain(scale_by_muon(...), scale_by_shape(...), add_decayed_weights(λ, mask),
    scale_by_learning_rate(α)), "adam": ...}, labels)``; packed (``gdtx.packing(params,
    opt)``), the matrices of one shape are orthogonalised in one batched iteration.

    The defaults are Optax's: β = 0.95, five steps of Jordan's (3.4445, −4.7750,
    2.0315), Nesterov momentum with bias correction, ε = 1e-8, λ = 0, matrices read as
    (fan_in, fan_out). ``torch.optim.Muon(params_2d, lr, weight_decay, momentum,
    nesterov, eps, adjust_lr_fn)`` plus ``torch.optim.AdamW(other_params, ...)`` is
    ``muon(lr, beta=momentum, eps=eps, weight_decay=weight_decay, nesterov=nesterov,
    debias=False, fan_in_axis=-1, other_optimizer=gdtx.adamw(...))`` with
    ``consistent_rms=0.2`` for ``adjust_lr_fn="match_rms_adamw"`` (torch's defaults:
    λ = 0.1, ε = 1e-7, and its iteration runs in bfloat16: ``ns_dtype=jnp.bfloat16``).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        ns_coeffs: (a, b, c), one triple per step, or ``"standard"`` or ``"dion"``.
        ns_steps: the number of Newton–Schulz steps of a single triple.
        beta: β in [0, 1), the momentum.
        eps: ε ≥ 0, of the normalisation (and of the default AdamW).
        weight_decay: λ ≥ 0 of the matrices, decoupled and multiplied by α.
        weight_decay_mask: which matrices decay (a tree of bools or a function of the
            parameters; ``None``: all).
        mu_dtype: dtype of the momenta (default: the parameter's).
        nesterov: Nesterov momentum (for the matrices and the default AdamW).
        adaptive: scale each NS(u) by ⟨u, NS(u)⟩ (Optax's ``adaptive``).
        adam_b1: β₁ of the default AdamW.
        adam_b2: β₂ of the default AdamW.
        adam_eps_root: ε inside its root.
        adam_weight_decay: its decoupled weight decay.
        adam_learning_rate: its learning rate (default: ``learning_rate``).
        consistent_rms: ρ: scale each matrix by ρ√max(fan_in, fan_out) instead of
            √max(1, fan_out/fan_in); see :class:`ScaleByShape`.
        muon_mask: which leaves Muon updates: a tree of bools or a function of the
            parameters; default: those with two dimensions. A selected leaf with more
            dimensions is a stack of matrices over its last two (a scanned stack of
            layers; Optax's ``MuonDimensionNumbers(-2, -1)``); one with fewer is an
            error.
        other_optimizer: the optimizer of the other leaves, replacing the default AdamW
            (then the ``adam_*`` arguments are unused).
        debias: the momentum's bias corrections (Optax) or none (Jordan, torch).
        fan_in_axis: -2 for (fan_in, fan_out) matrices (JAX, Optax), -1 for
            (fan_out, fan_in) ones (torch's ``nn.Linear``).
        ns_dtype: the dtype of the iteration (default: at least float32).
        ns_method: ``"standard"``, or ``"gram"``: the same iteration on the Gram
            matrices of wide matrices, with fewer products (see :class:`Orthogonalize`).
        maximize: ascend instead of descend: g ← −g first.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.muon(0.02)
        >>> params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
        >>> g = {"w": jnp.array([[4.0, 0.0], [0.0, 1.0]]), "b": jnp.array([1.0, -1.0])}
        >>> updates, state = opt.update(g, opt.init(params), params)
        >>> (updates["w"] / -0.02).round(2)  # NS(g): both directions move about alike
        Array([[0.74, 0.  ],
               [0.  , 0.74]], dtype=float32)
        >>> updates["b"].round(4)  # AdamW with Nesterov momentum, on its first step
        Array([-0.0295,  0.0295], dtype=float32)
    """
    lr = lr_block("muon", learning_rate)
    check_range("muon", "weight_decay", weight_decay, 0.0)
    check_range("muon", "beta", beta, 0.0, 1.0, high_open=True)
    check_range("muon", "eps", eps, 0.0)
    check_ns_method("muon", ns_method)
    core = scale_by_muon(
        ns_coeffs,
        ns_steps,
        beta,
        eps,
        mu_dtype,
        nesterov=nesterov,
        adaptive=adaptive,
        debias=debias,
        ns_dtype=ns_dtype,
        ns_method=ns_method,
    )
    shape = ScaleByShape(consistent_rms, fan_in_axis)
    matrices = Chain((core, shape, AddDecayedWeights(weight_decay, weight_decay_mask), lr))
    if other_optimizer is None:
        other_optimizer = _adamw(
            adam_learning_rate if adam_learning_rate is not None else learning_rate,
            adam_b1,
            adam_b2,
            eps,
            adam_eps_root,
            adam_weight_decay,
            mu_dtype,
            nesterov,
        )
    labels = _MuonLabels(None if muon_mask is None else freeze_mask(muon_mask))
    groups = partition({"adam": other_optimizer, "muon": matrices}, labels)
    return Chain((*sign(maximize), groups), "muon")


def _adamw(
    learning_rate: Any,
    b1: Any,
    b2: Any,
    eps: Any,
    eps_root: Any,
    weight_decay: Any,
    mu_dtype: Any,
    nesterov: bool,
) -> Chain:
    """Optax's ``adamw(..., nesterov=nesterov)``, the default for Muon's other leaves."""
    check_range("muon", "adam_b1", b1, 0.0, 1.0, high_open=True)
    check_range("muon", "adam_b2", b2, 0.0, 1.0, high_open=True)
    check_range("muon", "adam_eps", eps, 0.0)
    check_range("muon", "adam_eps_root", eps_root, 0.0)
    check_range("muon", "adam_weight_decay", weight_decay, 0.0)
    if nesterov:  # Dozat's first moment with a constant μ = β₁
        direction = scale_by_nadam(b1, b2, eps, None, eps_root=eps_root, m_dtype=mu_dtype)
    else:
        direction = scale_by_adam(b1, b2, eps, eps_root, m_dtype=mu_dtype)
    lr = lr_block("muon", learning_rate)
    return Chain((direction, AddDecayedWeights(weight_decay), lr))
