"""The demo behind ``python -m gdtx`` runs, prints its table and writes its figure."""

from __future__ import annotations

import gdtx._demo as demo


def test_demo_runs_and_writes_the_figure(tmp_path, capsys):
    figure = tmp_path / "demo.png"
    demo.main(["--steps", "30", "--figure", str(figure)])
    out = capsys.readouterr().out
    for name in ("adam", "adagrad", "rmsprop", "adadelta", "sgd + nesterov", "mini-batch"):
        assert name in out
    assert figure.stat().st_size > 10_000
