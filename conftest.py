"""Root test configuration (doctests in gdtx/ and tests/ alike): strict dtype and rank promotion."""

import jax

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
