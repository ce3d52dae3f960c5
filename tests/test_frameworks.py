"""Packed training through the framework integrations (gdtx.nnx, gdtx.linen, gdtx.equinox).

Each framework trains a tiny model for a few steps with one optimizer that holds every
wrapper the integrations must carry: parameter groups with a frozen group
(``set_to_zero``), a weight-decay mask, accumulation, ``apply_if_finite`` (one step's
gradient is NaN) and ``reduce_on_plateau`` (fed the loss). The packed run must equal
the framework's per-leaf loop with the same optimizer to float32 rounding: the losses,
the parameters, the model's other state (batch statistics, RNG counts) and the optimizer
state in its portable per-leaf form.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtx

# A step's loss is multiplied by SCALES[t]: NaN once, so that apply_if_finite skips it.
SCALES = [1.0, 1.0, float("nan"), 1.0, 1.0, 1.0, 1.0]
RTOL = 2e-5


def make_tx(frozen: str, train: list[str], lr: float = 3e-2) -> gdtx.Transform:
    groups = gdtx.partition(
        {
            "frozen": gdtx.set_to_zero(),
            "train": gdtx.accumulate(gdtx.adamw(lr, mask=gdtx.ndim_mask()), every_k=2),
        },
        {frozen: "frozen", **dict.fromkeys(train, "train")},
    )
    plateau = gdtx.reduce_on_plateau(factor=0.5, patience=0)
    return gdtx.apply_if_finite(gdtx.chain(groups, plateau))


def batches(n_in: int, n_out: int):
    rng = np.random.default_rng(0)  # NumPy: no eager JAX kernels to compile
    xs = rng.normal(size=(len(SCALES), 8, n_in)).astype(np.float32)
    ys = rng.normal(size=(len(SCALES), 8, n_out)).astype(np.float32)
    return [(xs[t], ys[t], np.float32(s)) for t, s in enumerate(SCALES)]


def assert_trees_close(a, b, rtol=RTOL, atol=1e-6):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def assert_run_checks(losses, ref_losses, opt_state, ref_opt_state):
    np.testing.assert_allclose(losses, ref_losses, rtol=RTOL)
    assert_trees_close(opt_state, ref_opt_state)
    assert int(opt_state.inner.skipped) == 1  # the NaN step
    assert int(opt_state.count) == len(SCALES)


def assert_every_leaf_moved(before, after):
    """Each trainable leaf left its initial value: an optimizer that did nothing fails."""
    flat_before, tree_before = jax.tree_util.tree_flatten_with_path(before)
    flat_after, tree_after = jax.tree.flatten(after)
    assert tree_before == tree_after
    for (path, b), a in zip(flat_before, flat_after, strict=True):
        assert not np.allclose(np.asarray(a), np.asarray(b)), jax.tree_util.keystr(path)


def assert_gradient_arrives_packed(lowered, packing):
    """The lowered step concatenates floats once per buffer of several leaves (the
    gradient of ``unpack``), and pads or updates nothing in place: no per-leaf gradient
    is packed afterwards."""
    hlo = lowered.as_text()
    concats = re.findall(r"stablehlo\.concatenate .* -> tensor<\d+xf32>", hlo)
    assert len(concats) == sum(len(b.leaves) > 1 for b in packing.layout.buffers)
    assert "stablehlo.pad" not in hlo and "dynamic_update_slice" not in hlo


# ---------------------------------------------------------------------------------------
# Flax NNX


def test_nnx_packed_equals_per_leaf_with_batch_stats_dropout_and_wrappers():
    nnx = pytest.importorskip("flax.nnx")
    import gdtx.nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.first = nnx.Linear(3, 6, rngs=rngs)
            self.bn = nnx.BatchNorm(6, rngs=rngs)
            self.drop = nnx.Dropout(0.3, rngs=rngs)
            self.last = nnx.Linear(6, 2, rngs=rngs)

        def __call__(self, x):
            return self.last(self.drop(jax.nn.tanh(self.bn(self.first(x)))))

    def loss_fn(model, x, y, s):
        return s * jnp.mean((model(x) - y) ** 2)

    tx = make_tx("first", ["bn", "last"])
    model = Net(nnx.Rngs(0, dropout=1))

    def trainable(m):  # the parameters of the trained groups
        return {
            "bn": (m.bn.scale[...], m.bn.bias[...]),
            "last": (m.last.kernel[...], m.last.bias[...]),
        }

    initial = jax.tree.map(np.array, trainable(model))
    state = gdtx.nnx.TrainState.create(model, tx)

    def loss_and_mean(model, x, y, s):  # the batch mean the call leaves, as aux
        return loss_fn(model, x, y, s), model.bn.mean[...]

    step = gdtx.nnx.train_step(loss_and_mean, has_aux=True)
    data = batches(3, 2)

    assert_gradient_arrives_packed(step.lower(state, *data[0]), state.packing)

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    @jax.jit
    def ref_step(params, opt_state, rest, x, y, s):  # Flax's functional loop, per leaf
        def f(p):
            m = nnx.merge(graphdef, p, rest, copy=True)
            return loss_fn(m, x, y, s), nnx.split(m, nnx.Param, ...)[2]

        (loss, rest), grads = jax.value_and_grad(f, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params, value=loss)
        return gdtx.apply_updates(params, updates), opt_state, rest, loss

    ref_state = tx.init(params)
    losses, ref_losses = [], []
    for t, batch in enumerate(data):
        if t == 4:  # a checkpoint, restored into a new packed state: the run goes on
            restored = state.merge()
            ckpt = state.unpack_opt_state()
            state = gdtx.nnx.TrainState.create(restored, tx, opt_state=ckpt)
        state, loss, mean = step(state, *batch)
        params, ref_state, rest, ref_loss = ref_step(params, ref_state, rest, *batch)
        losses.append(loss)
        ref_losses.append(ref_loss)

    assert_run_checks(losses, ref_losses, state.unpack_opt_state(), ref_state)
    trained = nnx.state(state.merge())
    assert_trees_close(trained, nnx.merge_state(params, rest))
    np.testing.assert_array_equal(mean, trained["bn"]["mean"][...])  # has_aux
    assert int(trained["drop"]["rngs"]["count"][...]) == len(SCALES)  # RNG count threaded
    assert not np.allclose(trained["bn"]["mean"][...], 0)  # batch statistics updated
    np.testing.assert_array_equal(trained["first"]["kernel"][...], model.first.kernel[...])
    assert_every_leaf_moved(initial, trainable(state.merge()))
    nnx.update(model, state.model_state())  # the trained values, into the user's model
    assert_trees_close(nnx.state(model), trained)


# ---------------------------------------------------------------------------------------
# Flax Linen


def test_linen_train_state_step_code_unchanged_with_batch_stats():
    nn = pytest.importorskip("flax.linen")
    from flax import struct

    import gdtx.linen

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.BatchNorm(use_running_average=False)(nn.Dense(6)(x))
            return nn.Dense(2)(jax.nn.tanh(h))

    class TrainState(gdtx.linen.TrainState):  # as Flax's docs extend theirs
        batch_stats: dict

    class TreeState(struct.PyTreeNode):  # the per-leaf reference, same interface
        apply_fn: object = struct.field(pytree_node=False)
        params: dict
        opt_state: object
        batch_stats: dict

        def apply_gradients(self, *, grads, batch_stats, value):
            updates, opt_state = tx.update(grads, self.opt_state, self.params, value=value)
            params = gdtx.apply_updates(self.params, updates)
            return self.replace(params=params, opt_state=opt_state, batch_stats=batch_stats)

    def train_step(state, x, y, s):  # the user's TrainState-style step, used for both
        def loss_fn(params):
            variables = {"params": params, "batch_stats": state.batch_stats}
            out, updates = state.apply_fn(variables, x, mutable=["batch_stats"])
            return s * jnp.mean((out - y) ** 2), updates

        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads, batch_stats=updates["batch_stats"], value=loss)
        return state, loss

    tx = make_tx("Dense_0", ["BatchNorm_0", "Dense_1"])
    model = Net()
    data = batches(3, 2)
    variables = model.init(jax.random.key(0), data[0][0])
    state = TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        tx=tx,
        batch_stats=variables["batch_stats"],
    )
    variables = jax.tree.map(jnp.copy, variables)  # the packed step donates its state
    initial = jax.tree.map(np.array, variables["params"])
    ref = TreeState(
        model.apply, variables["params"], tx.init(variables["params"]), variables["batch_stats"]
    )
    assert_gradient_arrives_packed(jax.jit(train_step).lower(state, *data[0]), state.packing)
    step, ref_step = jax.jit(train_step, donate_argnums=0), jax.jit(train_step)
    losses, ref_losses = [], []
    for batch in data:
        state, loss = step(state, *batch)
        ref, ref_loss = ref_step(ref, *batch)
        losses.append(loss)
        ref_losses.append(ref_loss)

    assert_run_checks(losses, ref_losses, state.unpack_opt_state(), ref.opt_state)
    assert int(state.step) == len(SCALES)
    assert_trees_close(state.unpacked_params(), ref.params)  # a Linen params dict
    assert_trees_close(state.batch_stats, ref.batch_stats)
    np.testing.assert_array_equal(
        state.unpacked_params()["Dense_0"]["kernel"], variables["params"]["Dense_0"]["kernel"]
    )
    for name in ("BatchNorm_0", "Dense_1"):  # the trained groups
        assert_every_leaf_moved(initial[name], state.unpacked_params()[name])


# ---------------------------------------------------------------------------------------
# Equinox


def test_equinox_packed_equals_filter_jit_loop():
    eqx = pytest.importorskip("equinox")
    import gdtx.equinox

    def loss_fn(model, x, y, s):
        return s * jnp.mean((jax.vmap(model)(x) - y) ** 2)

    traces = []

    def counted_loss(model, x, y, s):
        traces.append(1)  # once per trace of the packed step
        return loss_fn(model, x, y, s)

    tx = make_tx("layers/0", ["layers/1", "layers/2"])
    model = eqx.nn.MLP(3, 2, 6, depth=2, activation=jax.nn.tanh, key=jax.random.key(0))

    def trainable(m):  # the parameters of the trained groups
        return [(m.layers[i].weight, m.layers[i].bias) for i in (1, 2)]

    initial = jax.tree.map(np.array, trainable(model))
    state = gdtx.equinox.TrainState.create(model, tx)
    step = gdtx.equinox.train_step(counted_loss)
    data = batches(3, 2)
    assert_gradient_arrives_packed(step.lower(state, *data[0]), state.packing)

    @eqx.filter_jit
    def ref_step(model, opt_state, x, y, s):  # Equinox's loop, per leaf
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y, s)
        params = eqx.filter(model, eqx.is_array)
        updates, opt_state = tx.update(grads, opt_state, params, value=loss)
        return eqx.apply_updates(model, updates), opt_state, loss

    ref, ref_state = model, tx.init(eqx.filter(model, eqx.is_array))
    losses, ref_losses = [], []
    for batch in data:
        state, loss = step(state, *batch)
        ref, ref_state, ref_loss = ref_step(ref, ref_state, *batch)
        losses.append(loss)
        ref_losses.append(ref_loss)

    assert_run_checks(losses, ref_losses, state.unpack_opt_state(), ref_state)
    trained = state.model()
    assert type(trained) is type(model) and trained.activation is jax.nn.tanh
    assert_trees_close(eqx.filter(trained, eqx.is_array), eqx.filter(ref, eqx.is_array))
    np.testing.assert_array_equal(trained.layers[0].weight, model.layers[0].weight)
    assert_every_leaf_moved(initial, trainable(trained))

    # A new learning rate is a new optimizer of the same form: the compiled step runs on.
    compiled = len(traces)
    state = state.replace(tx=make_tx("layers/0", ["layers/1", "layers/2"], lr=1e-3))
    state, loss = step(state, *data[0])
    assert len(traces) == compiled and np.isfinite(loss)
    assert float(state.tx.current_learning_rate(state.opt_state)) == pytest.approx(1e-3)


# ---------------------------------------------------------------------------------------
# Errors and optional dependencies


def test_packed_states_refuse_optax_transformations():
    optax = pytest.importorskip("optax")
    nnx = pytest.importorskip("flax.nnx")
    import gdtx.nnx

    with pytest.raises(TypeError, match=r"gdtx\.nnx\.TrainState\.create: `tx` must be a gdtx"):
        gdtx.nnx.TrainState.create(nnx.Linear(2, 1, rngs=nnx.Rngs(0)), optax.adam(1e-3))
