"""`make demo`'s job, run quickly on a slice of Fashion-MNIST."""
import json

from experiments import demo


def test_demo_trains_and_writes_its_figure(fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("DLFS_CACHE_DIR", str(tmp_path / "cache"))
    assert demo.main(["--epochs", "2", "--train-size", "2000", "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 40 and len(metrics["train_acc"]) == 2
    assert metrics["final_test_acc"] > 0.6
    assert (tmp_path / "run" / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "run").glob("*.part"))
