"""Peak resident memory of a `retina-tf serve` process, per kind of request, within the pixel budget.

One server process per case (the smoke model, configs/smoke_cpu.yaml, untrained, exported here), started
fresh so no case inherits another's peak. After it has loaded and warmed up, its peak RSS (VmHWM) is reset
through /proc/PID/clear_refs, the case's requests are sent, and the peak read back from /proc/PID/status;
then SIGTERM, and the server must exit 0. Cases:

- typical: one synthetic 2544x1696 JPEG (e-ophtha's largest);
- largest photograph: 6000x4000 (the 24-megapixel limit), its disc cut at top and bottom, so the crop the
  normalisation squares reaches 6000x6000;
- largest batch: four 4288x2848 photographs (IDRiD's size, 48.9 of the 50 megapixels a request may hold);
  and two at 6000x4000 (48 megapixels);
- 8 concurrent clients, three typical photographs each (the server runs two at a time and queues the rest);
- the worst the limits allow: 8 concurrent clients, three requests each of the largest batch by pixels (two
  6000x4000 photographs, disc cut), so that WORKERS requests of the budget's worst photograph run at once
  and the rest of MAX_REQUESTS wait, holding their messages;
- over the budget: a 5114x4693 PNG of a flat disc (24,000,002 pixels, the fewest over 24,000,000 that
  sides of at most 6000 make), which must be refused from its header, costing no more than a typical one.

Linux only (/proc). About 8 minutes on 2 cores.

    python benchmarks/serving_memory.py [--workdir DIR] [--only TEXT] [--override FIELD=VALUE ...]
"""

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time

import cv2
import grpc
import numpy as np
import tensorflow as tf
from official.core import task_factory

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import layered_params
from retina_tf.serving.client import RetinaClient
from retina_tf.serving.protocol import (
    MAX_PHOTOGRAPH_PIXELS,
    PhotographRejected,
)
from retina_tf.testing.ports import free_ports
from retina_tf.testing.serving import export_weights, photograph

MB = 1024 * 1024


def _status(pid: int, field: str) -> int:
    """A /proc/PID/status memory field, in bytes."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


class Server:
    """`retina-tf serve` in a child process, for one case."""

    def __init__(self, export_base: pathlib.Path):
        [self.port] = free_ports(1)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "retina_tf.commands.main", "serve", "--export-base", str(export_base),
             "--port", str(self.port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.process.stdout:   # the line it prints once warmed up and listening
            if line.startswith("serving "):
                break
        else:
            raise RuntimeError(f"retina-tf serve exited with status {self.process.wait()}")
        self.loaded = _status(self.process.pid, "VmRSS")
        pathlib.Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")   # VmHWM := VmRSS

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def peak(self) -> int:
        return _status(self.process.pid, "VmHWM")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(120)
        self.process.stdout.close()
        return status


def _flat_disc_png(width: int, height: int) -> bytes:
    """A grey disc on black: millions of pixels in a few hundred kilobytes."""
    image = np.zeros((height, width, 3), np.uint8)
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 2 - 10, (90, 120, 160), -1)
    return cv2.imencode(".png", image)[1].tobytes()


def _one(batch):
    def send(target):
        with RetinaClient(target, timeout=600) as client:
            return [f"{record.width}x{record.height}" for record in client.predict(batch)]
    return send


def _refused(data):
    def send(target):
        with RetinaClient(target, timeout=600) as client:
            try:
                client.predict([data])
            except PhotographRejected as refusal:
                return [f"refused: {refusal}"]
        raise AssertionError("a photograph over the budget was answered")
    return send


def _concurrent(batch, clients: int = 8, each: int = 3):
    def send(target):
        answered, exhausted = [], []

        def client_thread():
            with RetinaClient(target, timeout=600, retries=0) as client:
                for _ in range(each):
                    try:
                        answered.append(client.predict(batch))
                    except Exception as error:   # noqa: BLE001  counted and shown
                        exhausted.append(str(error))

        threads = [threading.Thread(target=client_thread) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [f"{len(answered)} of {clients * each} answered", *sorted(set(exhausted))]
    return send


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=pathlib.Path, help="keep the export here (default: a temporary folder)")
    parser.add_argument("--only", help="run the cases whose label holds this text")
    parser.add_argument("--override", action="append", default=[],
                        help="field=value of the exported experiment, e.g. task.tiling.tile_size=1088 with "
                             "task.train_data.tfds_name=idrid/lesions_2048 for a tiled 2048 px export")
    args = parser.parse_args()
    started = time.perf_counter()

    typical = photograph(2544, 1696)
    largest = photograph(6000, 4000, cut_off=True, render_scale=4)
    idrid = photograph(4288, 2848, render_scale=2)
    over = _flat_disc_png(5114, 4693)
    assert 5114 * 4693 == MAX_PHOTOGRAPH_PIXELS + 2
    cases = {
        "typical photograph, 2544x1696 JPEG": _one([typical]),
        "largest photograph, 6000x4000 JPEG, disc cut": _one([largest]),
        "largest batch, 4 x 4288x2848 JPEG": _one([idrid] * 4),
        "largest batch, 2 x 6000x4000 JPEG, disc cut": _one([largest] * 2),
        "8 concurrent clients x 3 typical photographs": _concurrent([typical]),
        "8 concurrent clients x 3 requests of 2 x 6000x4000": _concurrent([largest] * 2),
        f"over the budget: 5114x4693 PNG ({len(over) // 1024} KB)": _refused(over),
    }
    print(f"machine: {os.cpu_count()} CPUs, {_status(os.getpid(), 'VmRSS') // MB} MB in this process; "
          f"TF {tf.__version__}; smoke model (configs/smoke_cpu.yaml{''.join(' ' + o for o in args.override)}), "
          "untrained; one `retina-tf serve` per case", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.workdir or pathlib.Path(temporary)
        params = layered_params([SMOKE_CPU], args.override)
        export_weights([SMOKE_CPU], task_factory.get_task(params.task).build_model(), workdir, "retina",
                       *args.override)
        print(f"\n{'case':52s} {'loaded MB':>9s} {'peak MB':>8s} {'+MB':>6s} {'s':>5s} {'exit':>4s}  answer")
        for label, send in cases.items():
            if args.only and args.only not in label:
                continue
            server = Server(workdir / "export")
            start = time.perf_counter()
            try:
                answer = send(server.target)
            except grpc.RpcError as error:
                answer = [f"{error.code().name}: {error.details()}"]
            seconds = time.perf_counter() - start
            peak = server.peak()
            status = server.stop()
            print(f"{label:52s} {server.loaded // MB:9d} {peak // MB:8d} {(peak - server.loaded) // MB:6d} "
                  f"{seconds:5.1f} {status:4d}  {'; '.join(answer)}", flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
