"""gdtx.problems: values, minima, saddle points, starts and windows of the 2-D test problems."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtx
from gdtx import problems

NAMES = sorted(problems.PROBLEMS)


def test_every_problem_is_listed_and_reachable_from_gdtx():
    assert set(problems.PROBLEMS) == {
        "quadratic",
        "rotated_quadratic",
        "saddle",
        "rosenbrock",
        "beale",
        "rastrigin",
    }
    assert gdtx.problems.rosenbrock is problems.PROBLEMS["rosenbrock"]


@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_at_the_minimum(name):
    p = problems.PROBLEMS[name]
    point = p.minimum if p.minimum is not None else p.saddle
    assert point is not None
    x = jnp.asarray(point, jnp.float32)
    np.testing.assert_allclose(np.asarray(jax.grad(p)(x)), 0.0, atol=1e-5)
    if p.minimum is not None:
        assert p.min_value is not None
        assert float(p(x)) == pytest.approx(p.min_value, abs=1e-6)
        # a local minimum: the Hessian is positive definite there
        assert np.all(np.linalg.eigvalsh(np.asarray(jax.hessian(p)(x))) > 0)


@pytest.mark.parametrize("name", [k for k in NAMES if problems.PROBLEMS[k].min_value is not None])
def test_minimum_is_the_lowest_value_on_the_window(name):
    p = problems.PROBLEMS[name]
    assert p.min_value is not None
    _, _, values = p.grid(101)
    assert values.min() >= p.min_value - 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_start_and_landmarks_lie_in_the_window(name):
    p = problems.PROBLEMS[name]
    (a, b), (c, d) = p.window
    for point in (p.start, p.minimum, p.saddle):
        if point is not None:
            assert a <= point[0] <= b and c <= point[1] <= d, (name, point)
    assert float(p(p.x0())) > (p.min_value if p.min_value is not None else -math.inf)


@pytest.mark.parametrize("name", NAMES)
def test_evaluates_points_and_grids_in_float32(name):
    p = problems.PROBLEMS[name]
    assert p.x0().shape == (2,) and p.x0().dtype == jnp.float32
    value = p(p.x0())
    assert value.shape == () and value.dtype == jnp.float32
    x1, x2, values = p.grid(7)
    assert x1.shape == x2.shape == values.shape == (7, 7)
    # the grid agrees with point-by-point evaluation
    i, j = 3, 5
    point = jnp.asarray([x1[i, j], x2[i, j]], jnp.float32)
    assert values[i, j] == pytest.approx(float(p(point)), rel=1e-5, abs=1e-5)


def test_known_values():
    assert float(problems.quadratic(jnp.array([-5.0, -2.0]))) == pytest.approx(10.5)
    assert float(problems.rosenbrock(jnp.array([-1.2, 1.0]))) == pytest.approx(24.2, rel=1e-6)
    assert float(problems.beale(jnp.array([1.0, 1.0]))) == pytest.approx(14.203125)
    assert float(problems.rastrigin(jnp.array([0.0, 0.0]))) == pytest.approx(0.0, abs=1e-5)
    assert float(problems.saddle(jnp.array([2.0, 1.0]))) == pytest.approx(3.0)


def test_the_quadratics_have_condition_number_20_and_the_same_start_level():
    for p in (problems.quadratic, problems.rotated_quadratic):
        eig = np.linalg.eigvalsh(np.asarray(jax.hessian(p)(p.x0())))
        np.testing.assert_allclose(eig, [0.2, 4.0], rtol=1e-5)
        assert float(p(p.x0())) == pytest.approx(10.5, rel=1e-5)
    h = np.asarray(jax.hessian(problems.rotated_quadratic)(jnp.zeros(2)))
    assert abs(h[0, 1]) > 1.0  # turned: the coordinates are coupled
    s = problems.rotated_quadratic.start
    assert s == pytest.approx((-3 / math.sqrt(2), -7 / math.sqrt(2)))


def test_the_saddle_has_curvatures_of_both_signs_and_no_minimum():
    p = problems.saddle
    assert p.minimum is None and p.min_value is None and p.saddle == (0.0, 0.0)
    eig = np.linalg.eigvalsh(np.asarray(jax.hessian(p)(jnp.zeros(2))))
    np.testing.assert_allclose(eig, [-2.0, 2.0])


def test_rastrigin_traps_gradient_descent_in_a_local_minimum():
    traj = gdtx.record(gdtx.sgd(1e-3), problems.rastrigin, steps=2000)
    assert float(traj.loss[-1]) > 1.0  # stuck far above the global minimum 0
    assert float(jnp.linalg.norm(traj.grads[-1])) < 1e-2


def test_quadratic_problem_factory():
    p = problems.quadratic_problem(1.0, 4.0, angle=30.0, start=(1.0, 1.0))
    eig = np.linalg.eigvalsh(np.asarray(jax.hessian(p)(jnp.zeros(2))))
    np.testing.assert_allclose(eig, [2.0, 8.0], rtol=1e-5)
    assert float(p(p.x0())) == pytest.approx(5.0, rel=1e-5)  # the level set of u = (1, 1)
    assert "condition number 4" in p.description
    with pytest.raises(ValueError, match="must be positive"):
        problems.quadratic_problem(0.0, 1.0)


def test_problems_are_hashable_static_arguments():
    assert hash(problems.beale) == hash(problems.beale)
    f = jax.jit(lambda p, x: p(x), static_argnums=0)
    assert float(f(problems.beale, jnp.array([3.0, 0.5]))) == pytest.approx(0.0, abs=1e-6)
