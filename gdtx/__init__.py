"""gdtx: composable gradient transformations for JAX.

Every optimizer is a short ``chain`` of small building blocks, each a pure
``init``/``update`` pair whose docstring carries its update equation in one
notation (README.md, "Notation"): g the incoming update, m and v the first and
second moments, α the learning rate, β₁ and β₂ decay rates, ε the stabiliser,
λ the weight decay and t = count + 1 the step number counted from 1.

Example:
    >>> import jax, jax.numpy as jnp, gdtx
    >>> opt = gdtx.adam(0.1)
    >>> params = {"x": jnp.array([1.0, -2.0])}
    >>> state = opt.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p["x"] ** 2))(params)
    >>> updates, state = opt.update(grads, state, params)
    >>> gdtx.apply_updates(params, updates)["x"]
    Array([ 0.9, -1.9], dtype=float32)
"""

from . import plot as plot
from . import problems as problems
from ._accumulate import Accumulate as Accumulate
from ._accumulate import AccumulateState as AccumulateState
from ._accumulate import accumulate as accumulate
from ._adafactor import AdafactorDecay as AdafactorDecay
from ._adafactor import RelativeStepSize as RelativeStepSize
from ._adafactor import adafactor as adafactor
from ._adam import scale_by_adam as scale_by_adam
from ._adam import scale_by_adamax as scale_by_adamax
from ._adam import scale_by_amsgrad as scale_by_amsgrad
from ._adam import scale_by_nadam as scale_by_nadam
from ._base import Context as Context
from ._base import EmptyState as EmptyState
from ._base import OptState as OptState
from ._base import PytreeDataclass as PytreeDataclass
from ._base import Transform as Transform
from ._base import apply_updates as apply_updates
from ._base import compute_dtype as compute_dtype
from ._base import safe_increment as safe_increment
from ._base import static as static
from ._clipping import AdaptiveGradClip as AdaptiveGradClip
from ._clipping import Centralize as Centralize
from ._clipping import ScaleByParamBlockNorm as ScaleByParamBlockNorm
from ._clipping import ScaleByParamBlockRms as ScaleByParamBlockRms
from ._clipping import adaptive_grad_clip as adaptive_grad_clip
from ._clipping import centralize as centralize
from ._clipping import scale_by_param_block_norm as scale_by_param_block_norm
from ._clipping import scale_by_param_block_rms as scale_by_param_block_rms
from ._combine import Chain as Chain
from ._combine import Fork as Fork
from ._combine import Identity as Identity
from ._combine import Masked as Masked
from ._combine import NamedChain as NamedChain
from ._combine import OptaxTransform as OptaxTransform
from ._combine import chain as chain
from ._combine import fork as fork
from ._combine import identity as identity
from ._combine import masked as masked
from ._combine import named_chain as named_chain
from ._combine import product as product
from ._combine import variance as variance
from ._cycles import PiecewiseInterpolate as PiecewiseInterpolate
from ._cycles import cosine_onecycle_schedule as cosine_onecycle_schedule
from ._cycles import linear_onecycle_schedule as linear_onecycle_schedule
from ._cycles import piecewise_interpolate_schedule as piecewise_interpolate_schedule
from ._cycles import sgdr_schedule as sgdr_schedule
from ._every import ApplyEvery as ApplyEvery
from ._every import ApplyEveryState as ApplyEveryState
from ._every import apply_every as apply_every
from ._factored import FactoredState as FactoredState
from ._factored import ScaleByFactoredRms as ScaleByFactoredRms
from ._factored import scale_by_factored_rms as scale_by_factored_rms
from ._finite import ApplyIfFinite as ApplyIfFinite
from ._finite import FiniteState as FiniteState
from ._finite import apply_if_finite as apply_if_finite
from ._finite import skip_large_updates as skip_large_updates
from ._groups import Partition as Partition
from ._groups import SetToZero as SetToZero
from ._groups import freeze as freeze
from ._groups import ndim_mask as ndim_mask
from ._groups import partition as partition
from ._groups import set_to_zero as set_to_zero
from ._layout import BufferLayout as BufferLayout
from ._layout import Layout as Layout
from ._layout import Packed as Packed
from ._layout import leaf_norms as leaf_norms
from ._layout import leaf_rms as leaf_rms
from ._layout import leaf_sums as leaf_sums
from ._layout import scale_leaves as scale_leaves
from ._matrix import is_matrix as is_matrix
from ._matrix import map_matrices as map_matrices
from ._matrix import map_stacked as map_stacked
from ._moments import BiasCorrection as BiasCorrection
from ._moments import Ema as Ema
from ._moments import InfinityNorm as InfinityNorm
from ._moments import MState as MState
from ._moments import RunningMax as RunningMax
from ._moments import SumOfSquares as SumOfSquares
from ._moments import VMaxState as VMaxState
from ._moments import VState as VState
from ._moments import bias_correction as bias_correction
from ._moments import correction_factor as correction_factor
from ._moments import ema as ema
from ._moments import ewma as ewma
from ._moments import ewma_step as ewma_step
from ._moments import infinity_norm as infinity_norm
from ._moments import running_max as running_max
from ._moments import sum_of_squares as sum_of_squares
from ._momentum import NadamState as NadamState
from ._momentum import NesterovEma as NesterovEma
from ._momentum import ScaleByLion as ScaleByLion
from ._momentum import Trace as Trace
from ._momentum import nesterov_ema as nesterov_ema
from ._momentum import scale_by_lion as scale_by_lion
from ._momentum import trace as trace
from ._muon import Orthogonalize as Orthogonalize
from ._muon import ScaleByShape as ScaleByShape
from ._muon import muon as muon
from ._muon import orthogonalize as orthogonalize
from ._muon import scale_by_muon as scale_by_muon
from ._muon import scale_by_shape as scale_by_shape
from ._noise import AddNoise as AddNoise
from ._noise import AddNoiseState as AddNoiseState
from ._noise import ZeroNans as ZeroNans
from ._noise import ZeroNansState as ZeroNansState
from ._noise import add_noise as add_noise
from ._noise import zero_nans as zero_nans
from ._optim_adam import adam as adam
from ._optim_adam import adamax as adamax
from ._optim_adam import adamw as adamw
from ._optim_adam import amsgrad as amsgrad
from ._optim_adam import nadam as nadam
from ._optim_adaptive import adadelta as adadelta
from ._optim_adaptive import adagrad as adagrad
from ._optim_adaptive import rmsprop as rmsprop
from ._optim_momentum import lars as lars
from ._optim_momentum import lion as lion
from ._optim_momentum import momentum as momentum
from ._optim_momentum import sgd as sgd
from ._packing import Packing as Packing
from ._packing import packing as packing
from ._plateau import PlateauState as PlateauState
from ._plateau import ReduceOnPlateau as ReduceOnPlateau
from ._plateau import reduce_on_plateau as reduce_on_plateau
from ._record import Trajectory as Trajectory
from ._record import record as record
from ._record import record_many as record_many
from ._rms import DState as DState
from ._rms import InverseRoot as InverseRoot
from ._rms import ScaleByStepRms as ScaleByStepRms
from ._rms import inverse_root as inverse_root
from ._rms import scale_by_adadelta as scale_by_adadelta
from ._rms import scale_by_rms as scale_by_rms
from ._rms import scale_by_rss as scale_by_rss
from ._rms import scale_by_step_rms as scale_by_step_rms
from ._scale import AddDecayedWeights as AddDecayedWeights
from ._scale import Clip as Clip
from ._scale import ClipByBlockRms as ClipByBlockRms
from ._scale import ClipByGlobalNorm as ClipByGlobalNorm
from ._scale import Scale as Scale
from ._scale import ScaleByLearningRate as ScaleByLearningRate
from ._scale import ScaleBySchedule as ScaleBySchedule
from ._scale import ScaleByTrustRatio as ScaleByTrustRatio
from ._scale import add_decayed_weights as add_decayed_weights
from ._scale import clip as clip
from ._scale import clip_by_block_rms as clip_by_block_rms
from ._scale import clip_by_global_norm as clip_by_global_norm
from ._scale import scale as scale
from ._scale import scale_by_learning_rate as scale_by_learning_rate
from ._scale import scale_by_schedule as scale_by_schedule
from ._scale import scale_by_trust_ratio as scale_by_trust_ratio
from ._schedules import Schedule as Schedule
from ._schedules import as_schedule as as_schedule
from ._schedules import constant_schedule as constant_schedule
from ._schedules import cosine_decay_schedule as cosine_decay_schedule
from ._schedules import exponential_decay as exponential_decay
from ._schedules import inverse_sqrt_decay as inverse_sqrt_decay
from ._schedules import inverse_time_decay as inverse_time_decay
from ._schedules import join_schedules as join_schedules
from ._schedules import linear_schedule as linear_schedule
from ._schedules import piecewise_constant_schedule as piecewise_constant_schedule
from ._schedules import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule
from ._tree import global_norm as global_norm
from ._warmup import PolynomialSchedule as PolynomialSchedule
from ._warmup import polynomial_schedule as polynomial_schedule
from ._warmup import warmup_constant_schedule as warmup_constant_schedule
from ._warmup import warmup_exponential_decay_schedule as warmup_exponential_decay_schedule

__version__ = "0.1.0"

GradientTransformation = Transform
"""Alias of :class:`Transform`, for readers coming from Optax."""
