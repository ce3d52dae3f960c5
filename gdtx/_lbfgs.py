"""L-BFGS: the two-loop recursion over a memory of parameter and gradient differences.

The memory holds the last m pairs (s, y) as state leaves with a leading memory axis,
``(m, *shape)`` per leaf of a tree and ``(m, size)`` per buffer of a packed value, in a
ring: step k writes slot (k − 1) mod m. Everything else is elementwise arithmetic and
inner products summed over the whole tree (:func:`tree_vdot`), so the result does not
depend on how the parameters are laid out.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype, static
from ._tree import check_real, leaf_dtype, real_dtype, safe_div, to_compute, tree_vdot, zeros
from ._validate import check_positive_int


def axpy(c: jax.Array, x: Any, y: Any) -> Any:
    """y + c·x leaf by leaf, in ``y``'s dtypes (c a scalar)."""
    return jax.tree.map(lambda u, v: v + c.astype(v.dtype) * u.astype(v.dtype), x, y)


class LbfgsState(NamedTuple):
    """State of :class:`ScaleByLbfgs`.

    Attributes:
        s: the memory of parameter differences θ_{j+1} − θ_j, each leaf with a leading
            axis of ``memory_size`` slots (zeros: an empty slot).
        y: the memory of update differences g_{j+1} − g_j, shaped like ``s``.
        rho: ρ_j = 1/⟨y_j, s_j⟩ per slot (0 for an empty slot), shape ``(memory_size,)``.
        theta: the parameters θ of the previous step.
        g: the updates g of the previous step.
    """

    s: Any
    y: Any
    rho: jax.Array
    theta: Any
    g: Any


class ScaleByLbfgs(Transform):
    r"""The L-BFGS direction: the updates times an approximate inverse Hessian (Liu &
    Nocedal, 1989; Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4).

    At step t = k + 1 the newest pair s = θ_k − θ_{k−1}, y = g_k − g_{k−1} enters the
    memory (none at k = 0), with ρ = 1/⟨y, s⟩ (0 if ⟨y, s⟩ = 0), and the two-loop
    recursion over the last m pairs gives out = H_k g_k:

    $$ q = g;\quad \alpha_j = \rho_j\langle s_j, q\rangle,\;\; q \leftarrow q - \alpha_j y_j
       \quad (j\text{ newest to oldest}) $$
    $$ r = \gamma q;\quad \beta_j = \rho_j\langle y_j, r\rangle,\;\;
       r \leftarrow r + (\alpha_j - \beta_j) s_j \quad (j\text{ oldest to newest});
       \quad \text{out} = r $$

    with γ = ⟨s, y⟩/⟨y, y⟩ for the newest pair (1 if y = 0) when ``scale_init_precond``,
    and at the first step γ = min(1, 1/‖g‖), so that the first step has length at most
    1 (Optax's choice; the references leave γ₀ open); without it γ = 1. Inner products
    run over the whole tree. The output H·g is the negative of a descent direction: chain
    it with ``scale(-1)`` or a learning rate, and a line search (:func:`gdtx.lbfgs`).

    As in Optax's ``scale_by_lbfgs``, a pair with ⟨y, s⟩ ≤ 0 is kept (a Wolfe line search
    ensures ⟨y, s⟩ > 0); ``torch.optim.LBFGS`` skips pairs with ⟨y, s⟩ ≤ 1e-10. Real
    parameters only.

    Attributes:
        memory_size: m ≥ 1, the number of (s, y) pairs kept (static).
        scale_init_precond: use γ above; else γ = 1 (static).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_lbfgs(memory_size=3)
        >>> theta = jnp.array([3.0, 4.0])
        >>> tx.update(theta, tx.init(theta), theta)[0]  # γ₀ = 1/‖g‖ = 1/5
        Array([0.6, 0.8], dtype=float32)
    """

    memory_size: int = static(default=10)
    scale_init_precond: bool = static(default=True)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_positive_int("scale_by_lbfgs", "memory_size", self.memory_size)

    def init_state(self, params: Params) -> LbfgsState:
        check_real("scale_by_lbfgs", params)
        m = self.memory_size

        def memory(x: Any) -> jax.Array:
            z = zeros(x, compute_dtype(leaf_dtype(x)))
            return jnp.broadcast_to(z[None], (m, *z.shape))

        def previous(x: Any) -> jax.Array:
            return zeros(x, compute_dtype(leaf_dtype(x)))

        return LbfgsState(
            s=jax.tree.map(memory, params),
            y=jax.tree.map(memory, params),
            rho=jnp.zeros([m], real_dtype(params)),
            theta=jax.tree.map(previous, params),
            g=jax.tree.map(previous, params),
        )

    def step(
        self, updates: Updates, state: LbfgsState, params: Params | None, ctx: Context
    ) -> tuple[Updates, LbfgsState]:
        f = state.rho.dtype
        m = self.memory_size
        first = ctx.count == 0
        g = jax.tree.map(lambda x, p: to_compute(x).astype(p.dtype), updates, state.g)
        theta = jax.tree.map(lambda x, p: to_compute(x).astype(p.dtype), params, state.theta)

        # The newest pair, none before the first step: s = θ_k − θ_{k−1}, y = g_k − g_{k−1}.
        def diff(new: jax.Array, old: jax.Array) -> jax.Array:
            return jnp.where(first, jnp.zeros_like(new), new - old)

        s_new = jax.tree.map(diff, theta, state.theta)
        y_new = jax.tree.map(diff, g, state.g)
        sy = tree_vdot(s_new, y_new, f)
        rho_new = safe_div(jnp.ones_like(sy), sy)  # ρ = 1/⟨y, s⟩, 0 if ⟨y, s⟩ = 0
        slot = jnp.remainder(ctx.count - 1, m)  # step k writes slot (k − 1) mod m

        def write(memory: jax.Array, x: jax.Array) -> jax.Array:
            return jax.lax.dynamic_update_index_in_dim(memory, x, slot, 0)

        S = jax.tree.map(write, state.s, s_new)
        Y = jax.tree.map(write, state.y, y_new)
        rho = jax.lax.dynamic_update_index_in_dim(state.rho, rho_new, slot, 0)

        if self.scale_init_precond:
            yy = tree_vdot(y_new, y_new, f)
            gamma = jnp.where(yy > 0, sy / jnp.where(yy > 0, yy, 1), 1)  # γ = ⟨s,y⟩/⟨y,y⟩
            inv_norm = 1 / jnp.sqrt(tree_vdot(g, g, f))  # γ₀ = min(1, 1/‖g‖)
            gamma = jnp.where(first, jnp.minimum(1, inv_norm), gamma)
        else:
            gamma = jnp.ones([], f)
        out = two_loop(g, S, Y, rho, gamma, jnp.remainder(ctx.count, m))
        return out, LbfgsState(s=S, y=Y, rho=rho, theta=theta, g=g)


def two_loop(g: Any, S: Any, Y: Any, rho: jax.Array, gamma: jax.Array, oldest: jax.Array) -> Any:
    """H·g by the two-loop recursion over the memory (S, Y, ρ), slot ``oldest`` first."""
    f = rho.dtype
    m = rho.shape[0]
    order = jnp.remainder(oldest + jnp.arange(m, dtype=oldest.dtype), m)  # oldest → newest

    def pair(i: jax.Array) -> tuple[Any, Any]:
        def take(x: jax.Array) -> jax.Array:
            return jax.lax.dynamic_index_in_dim(x, i, 0, keepdims=False)

        return jax.tree.map(take, S), jax.tree.map(take, Y)

    def newest_first(q: Any, i: jax.Array) -> tuple[Any, jax.Array]:
        s, y = pair(i)
        alpha = rho[i] * tree_vdot(s, q, f)  # α_j = ρ_j⟨s_j, q⟩
        return axpy(-alpha, y, q), alpha  # q ← q − α_j y_j

    q, alphas = jax.lax.scan(newest_first, g, order, reverse=True)
    r = jax.tree.map(lambda x: gamma.astype(x.dtype) * x, q)  # r = γq

    def oldest_first(r: Any, i_alpha: tuple[jax.Array, jax.Array]) -> tuple[Any, None]:
        i, alpha = i_alpha
        s, y = pair(i)
        beta = rho[i] * tree_vdot(y, r, f)  # β_j = ρ_j⟨y_j, r⟩
        return axpy(alpha - beta, s, r), None  # r ← r + (α_j − β_j) s_j

    r, _ = jax.lax.scan(oldest_first, r, (order, alphas))
    return r


scale_by_lbfgs = ScaleByLbfgs
