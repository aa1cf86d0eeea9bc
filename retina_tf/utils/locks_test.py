"""The lock a scheduled cycle holds: taken and given back, refused while its holder runs, broken when it is gone."""

import json
import os
import socket
import subprocess

import pytest

from retina_tf.utils import locks


def test_the_lock_is_given_back_after_the_block_even_when_it_fails(tmp_path):
    lock = tmp_path / "cycle.lock"
    with locks.held(lock):
        holder = json.loads(lock.read_text())
        assert (holder["host"], holder["pid"]) == (socket.gethostname(), os.getpid())
    assert not lock.exists()
    with pytest.raises(RuntimeError), locks.held(lock):
        raise RuntimeError("the cycle failed")
    assert not lock.exists()


@pytest.mark.parametrize("holder", ["this host, running", "another host"])
def test_a_lock_its_holder_may_still_hold_is_refused_naming_it(tmp_path, holder):
    lock = tmp_path / "cycle.lock"
    host = socket.gethostname() if holder == "this host, running" else "vm-elsewhere"
    lock.write_text(json.dumps({"host": host, "pid": os.getppid(), "since": "2026-12-03 06:00:00 UTC"}))
    with pytest.raises(locks.LockHeld) as raised, locks.held(lock):
        pytest.fail("the block ran under another run's lock")
    assert str(raised.value) == (f"{lock} is held by pid {os.getppid()} on {host} since 2026-12-03 06:00:00 UTC "
                                 "(remove it if that run is gone)")
    assert json.loads(lock.read_text())["host"] == host   # left as it was


def test_a_lock_whose_process_is_gone_is_broken(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_path / "cycle.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "since": "yesterday"}))
    with locks.held(lock):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()
