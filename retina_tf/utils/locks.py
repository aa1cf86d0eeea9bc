"""A lock file that says who holds it: one scheduled run at a time on a model_dir, for schedulers without flock.

The file holds host, pid and start time. A lock left by a process of this host that is gone (killed, the VM
restarted) is broken; one of another host is trusted, since its process cannot be seen from here. Local
files are created atomically (O_EXCL); object storage has no such create, so there the lock only narrows the
race.
"""

import contextlib
import json
import os
import socket
import time

from etils import epath

from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


class LockHeld(UserError):
    """Another live run holds the lock; the message names it."""


def process_running(pid: int) -> bool:
    """Whether a process of this host with this pid exists (another user's counts)."""
    try:
        os.kill(pid, 0)   # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's
        pass
    return True


@contextlib.contextmanager
def held(path: str | os.PathLike):
    """Holds the lock file at path while the block runs.

    Raises:
      LockHeld: naming the host, pid and start of the run that holds it.
    """
    path = storage.path(path)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if not _create(path, me):
        holder = _holder(path)
        pid = holder.get("pid")
        if holder.get("host") == me["host"] and isinstance(pid, int) and pid > 0 and not process_running(pid):
            path.unlink(missing_ok=True)   # its run is gone
        if not _create(path, me):
            holder = _holder(path)
            raise LockHeld(f"{path} is held by pid {holder.get('pid')} on {holder.get('host')} since "
                           f"{holder.get('since')} (remove it if that run is gone)")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _create(path: epath.Path, me: dict) -> bool:
    """Writes the lock file unless it exists; False when it does."""
    text = json.dumps(me)
    if storage.is_object_storage(path):
        if path.exists():
            return False
        path.write_text(text)
        return True
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return True


def _holder(path: epath.Path) -> dict:
    """What the lock file says of its holder; {} for one unreadable or half-written."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
