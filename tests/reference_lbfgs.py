"""Float64 NumPy reference for L-BFGS without a line search (``lbfgs(...,
linesearch=None)``), the form that runs on the registry's fixed gradient sequence.

Written from Nocedal & Wright, *Numerical Optimization*, 2nd ed., §7.2: the direction
H_k·g_k of Algorithm 7.4 (the two-loop recursion), here formed as the matrix it
multiplies by implicitly (eq. 7.19),

    H = γI;  for j oldest to newest:  H ← V_jᵀ H V_j + ρ_j s_j s_jᵀ,  V_j = I − ρ_j y_j s_jᵀ,

so that a test against gdtx's two-loop recursion checks it against a different
computation of the same product. Optax's conventions (gdtx's ``ScaleByLbfgs``): a pair
with ⟨s, y⟩ ≤ 0 is kept, ρ = 0 when ⟨s, y⟩ = 0; γ = ⟨s, y⟩/⟨y, y⟩ of the newest pair (1
when y = 0), and γ₀ = min(1, 1/‖g‖) at the first step (no pair yet).

Nothing here imports gdtx. The parameters are flattened into one float64 vector in the
tree's key order: L-BFGS's inner products run over all of them.
"""

from __future__ import annotations

import numpy as np
from reference import Rate, Tree, _rate


class Lbfgs:
    """θ ← θ − α·H·g, H of the last m pairs s = θ_k − θ_{k−1}, y = g_k − g_{k−1}.

    ``learning_rate=None`` is α = 1. ``linesearch`` must be ``None`` (this reference has
    no objective to search along). ``weight_decay`` λ: g ← g + λθ first (L2, as
    ``add_decayed_weights(λ)`` before ``lbfgs``).
    """

    def __init__(
        self,
        learning_rate: Rate | None = None,
        memory_size: int = 10,
        scale_init_precond: bool = True,
        linesearch: object = None,
        *,
        weight_decay: float | None = None,
    ) -> None:
        if linesearch is not None:
            raise ValueError("the reference runs lbfgs without a line search only")
        self.learning_rate = 1.0 if learning_rate is None else learning_rate
        self.m, self.scale, self.weight_decay = memory_size, scale_init_precond, weight_decay

    def init(self, params: Tree) -> None:
        self.t = 0
        self.keys = list(params)
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self.prev: tuple[np.ndarray, np.ndarray] | None = None

    def _flat(self, tree: Tree) -> np.ndarray:
        return np.concatenate([np.ravel(tree[k]) for k in self.keys])

    def inverse_hessian(self, gamma: float, n: int) -> np.ndarray:
        """H of eq. 7.19 from γI and the pairs, oldest first."""
        H = gamma * np.eye(n)
        for s, y in self.pairs:
            sy = s @ y
            rho = 0.0 if sy == 0 else 1.0 / sy
            V = np.eye(n) - rho * np.outer(y, s)
            H = V.T @ H @ V + rho * np.outer(s, s)
        return H

    def step(self, params: Tree, grads: Tree) -> Tree:
        self.t += 1
        theta, g = self._flat(params), self._flat(grads)
        if self.weight_decay is not None:
            g = g + self.weight_decay * theta
        if self.prev is not None:
            s, y = theta - self.prev[0], g - self.prev[1]
            self.pairs = [*self.pairs, (s, y)][-self.m :]
        if not self.scale:
            gamma = 1.0
        elif not self.pairs:
            gamma = min(1.0, 1.0 / float(np.linalg.norm(g)))
        else:
            s, y = self.pairs[-1]
            gamma = float(s @ y) / float(y @ y) if y @ y > 0 else 1.0
        self.prev = (theta, g)
        new = theta - _rate(self.learning_rate, self.t - 1) * (
            self.inverse_hessian(gamma, g.size) @ g
        )
        out, start = {}, 0
        for k in self.keys:
            size = np.size(params[k])
            out[k] = new[start : start + size].reshape(np.shape(params[k]))
            start += size
        return out
