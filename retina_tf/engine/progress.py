"""What a person reads while a model trains: one progress line and a short validation table.

Model Garden's controller prints every loop's losses as a nine-line dict with
no total, rate or time left. `TrainingProgress`, fed by orbit's train and eval
actions (retina_tf.engine.train_lib), says instead where training stands. On a
terminal the line is rewritten in place; elsewhere (cron, a pipe, a log file)
a plain line is written for the first loop, then at most every `interval_s`
seconds, and for the last step, so a log stays short
(retina_tf.utils.console.StatusLine).
"""

import math
import sys
import time

import numpy as np

from retina_tf.utils import console

# The loss shown as `loss`: the first of these in the train output; the other *_loss keys are its parts.
TOTAL_LOSS_KEYS = ("total_loss", "training_loss", "model_loss")
# Validation figures in the table, by their name before any "/<lesion type>".
VALIDATION_COLUMNS = {"paper_mAP35": "mAP35", "paper_mAP50": "mAP50", "paper_mAP75": "mAP75",
                      "coco_segm_AP": "COCO segm AP", "froc_score": "FROC", "pixel_aupr": "pixel AUPR"}


class TrainingProgress:
    """Progress of one training run; `train_action` and `eval_action` are orbit actions."""

    def __init__(self, total_steps: int, steps_per_epoch: int, images_per_step: int, stream=None,
                 interactive: bool | None = None, interval_s: float = 30.0, clock=time.monotonic):
        self.total_steps, self.steps_per_epoch = total_steps, max(1, steps_per_epoch)
        self.images_per_step = images_per_step
        self.status = console.StatusLine(stream or sys.stdout, interval_s, interactive, clock)
        self.clock = clock
        self.global_step = None
        self._started = self._mark = None    # (time, step): the run's start; the last train or eval report
        self._first_loop = None              # (seconds, steps) of the first loop, which holds tf.function tracing
        self._seconds = self._steps = 0      # training time and steps since then, validation left out

    def attach(self, global_step):
        self.global_step = global_step

    def start(self, step: int | None = None):
        step = self._step() if step is None else step
        self._started = self._mark = (self.clock(), step)
        if step:
            self.status.write_line(f"resuming at step {step} of {self.total_steps}")

    def train_action(self, outputs):
        self.train(self._step(), outputs)

    def eval_action(self, outputs):
        self.validation(self._step(), outputs)

    def train(self, step: int, outputs):
        now = self.clock()
        if self._started is None:
            self.start(step)
        seconds, steps = now - self._mark[0], step - self._mark[1]
        if self._first_loop is None:
            self._first_loop = (seconds, steps)
        else:
            self._seconds, self._steps = self._seconds + seconds, self._steps + steps
        self._mark = (now, step)
        self.status.update(self.line(step, outputs, now), final=step >= self.total_steps)

    def validation(self, step: int, figures):
        self.status.write_line(f"validation at step {step}:")
        for row in validation_table(figures):
            self.status.write_line("  " + row)
        self._mark = (self.clock(), step)

    def finish(self):
        self.status.end()

    def line(self, step: int, outputs, now: float) -> str:
        """step / total, epoch, losses (4 significant figures), learning rate, images/s, elapsed and left."""
        values = {name: float(np.asarray(value)) for name, value in outputs.items()}
        total = next((values[key] for key in TOTAL_LOSS_KEYS if key in values), None)
        parts = [name.removesuffix("_loss") + f" {value:.4g}" for name, value in sorted(values.items())
                 if name.endswith("_loss") and name not in TOTAL_LOSS_KEYS]
        epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        fields = [f"step {step}/{self.total_steps} ({100 * step // max(1, self.total_steps)}%)",
                  f"epoch {max(1, math.ceil(step / self.steps_per_epoch))}/{epochs}"]
        if total is not None:
            fields.append(f"loss {total:.4g}")
        if "learning_rate" in values:
            fields.append(f"lr {values['learning_rate']:.4g}")
        rate = self.steps_per_second()
        elapsed = duration(now - self._started[0])
        if rate:
            fields.append(f"{rate * self.images_per_step:.3g} images/s")
            fields.append(f"{elapsed} elapsed, {duration((self.total_steps - step) / rate)} left")
        else:
            fields.append(f"{elapsed} elapsed")
        if parts:
            fields.append(", ".join(parts))
        return " | ".join(fields)

    def steps_per_second(self) -> float | None:
        """Training steps per second, leaving out the first loop (tracing) once a later one is measured."""
        seconds, steps = (self._seconds, self._steps) if self._steps else (self._first_loop or (0, 0))
        return steps / seconds if seconds > 0 and steps > 0 else None

    def _step(self) -> int:
        return int(self.global_step.numpy())


def validation_table(figures) -> list[str]:
    """The headline validation figures as rows: all lesions, then each lesion type; n/a where undefined."""
    values = {name: float(np.asarray(value)) for name, value in figures.items()}
    columns = [column for column in VALIDATION_COLUMNS if any(name.split("/")[0] == column for name in values)]
    if not columns:
        return []
    rows = ["all", *sorted({name.split("/", 1)[1] for name in values if "/" in name and name.split("/")[0] in columns})]
    label = max(len(row) for row in rows)
    widths = [max(7, len(VALIDATION_COLUMNS[column])) for column in columns]
    names = [VALIDATION_COLUMNS[column] for column in columns]
    lines = [" " * label + "".join(f"  {name:>{width}}" for name, width in zip(names, widths))]
    for row in rows:
        cells = [values.get(column if row == "all" else f"{column}/{row}") for column in columns]
        lines.append(f"{row:<{label}}" + "".join(f"  {'n/a' if value is None else f'{value:.4f}':>{width}}"
                                                for value, width in zip(cells, widths)))
    return lines


def duration(seconds: float) -> str:
    """h:mm:ss, or m:ss under an hour."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
