"""The scheduled cycle's lock: a second cycle on the same model_dir does nothing and says so (the whole cycle,
killed and resumed, is tests/test_cycle.py)."""

import json
import os
import socket

from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU
from retina_tf.workflows import cycle


def test_a_second_cycle_on_a_model_dir_does_nothing_and_says_so(eophtha_data_dir, tmp_path, capsys, monkeypatch):
    model_dir, export_base = tmp_path / "model", tmp_path / "export"
    model_dir.mkdir()
    lock = model_dir / "cycle.lock"   # as the first cycle, still running, holds it
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "since": "06:00"}))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cli.main(["cycle", "--config", str(SMOKE_CPU), "--model-dir", str(model_dir), "--data-dir",
                     str(eophtha_data_dir), "--export-base", str(export_base)]) == 0
    assert capsys.readouterr().out == (f"cycle: another cycle is running on this model_dir: {lock} is held by pid "
                                       f"{os.getppid()} on {socket.gethostname()} since 06:00 (remove it if that "
                                       "run is gone); nothing done\n")
    assert sorted(path.name for path in model_dir.iterdir()) == ["cycle.lock"] and not export_base.exists()


def test_each_worker_of_a_cluster_holds_its_own_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert cycle._lock_name() == "cycle-worker-1.lock"
    monkeypatch.delenv("TF_CONFIG")
    assert cycle._lock_name() == "cycle.lock"
