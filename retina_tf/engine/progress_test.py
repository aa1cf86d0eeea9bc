"""The progress line and the validation table, from fake train and eval outputs."""

import io

import numpy as np

from retina_tf.engine import progress

OUTPUTS = {"frcnn_box_loss": np.float32(0.0011956576), "frcnn_cls_loss": np.float32(1.1487048),
           "learning_rate": np.float32(0.001), "mask_loss": np.float32(3.001533), "model_loss": np.float32(5.5585155),
           "rpn_box_loss": np.float32(0.031828973), "rpn_score_loss": np.float32(1.3752532),
           "total_loss": np.float32(5.91227), "training_loss": np.float32(5.91227)}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _reporter(stream, clock, **kwargs):
    reporter = progress.TrainingProgress(total_steps=800, steps_per_epoch=20, images_per_step=2, stream=stream,
                                         clock=clock, **kwargs)
    reporter.start(0)
    return reporter


def test_the_line_shows_step_epoch_losses_to_4_figures_rate_and_time_left():
    clock, stream = Clock(), io.StringIO()
    reporter = _reporter(stream, clock, interactive=False, interval_s=0)
    clock.now = 100.0                      # the first loop traces: not counted once a later one is measured
    reporter.train(20, OUTPUTS)
    clock.now = 110.0
    reporter.train(40, OUTPUTS)
    first, second = stream.getvalue().splitlines()
    assert first.startswith("step 20/800 (2%) | epoch 1/40 | loss 5.912 | lr 0.001 | 0.4 images/s | 1:40 elapsed, ")
    assert second == ("step 40/800 (5%) | epoch 2/40 | loss 5.912 | lr 0.001 | 4 images/s | 1:50 elapsed, 6:20 left"
                      " | frcnn_box 0.001196, frcnn_cls 1.149, mask 3.002, rpn_box 0.03183, rpn_score 1.375")
    assert "np.float32" not in stream.getvalue() and "{" not in stream.getvalue()


def test_without_a_terminal_lines_are_plain_and_spaced_by_the_interval():
    clock, stream = Clock(), io.StringIO()
    reporter = _reporter(stream, clock, interval_s=60)   # io.StringIO is no terminal
    for step in range(20, 801, 20):
        clock.now += 10
        reporter.train(step, OUTPUTS)
    reporter.finish()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # the first loop, then every 6th loop of 10 s (60 s), and the last step
    assert [line.split(" ")[1] for line in lines] == [
        "20/800", "140/800", "260/800", "380/800", "500/800", "620/800", "740/800", "800/800"]
    assert lines[-1].endswith("6:40 elapsed, 0:00 left | frcnn_box 0.001196, frcnn_cls 1.149, mask 3.002, "
                              "rpn_box 0.03183, rpn_score 1.375")


def test_on_a_terminal_the_line_is_rewritten_in_place_and_validation_gets_its_own_lines():
    clock, stream = Clock(), Terminal()
    reporter = _reporter(stream, clock)
    for step in (20, 40):
        clock.now += 10
        reporter.train(step, OUTPUTS)
    reporter.validation(40, {"paper_mAP50": 0.5, "paper_mAP50/exudate": 0.75, "froc_score/exudate": 0.25,
                             "pixel_aupr/exudate": 0.125, "validation_loss": 0.0})
    clock.now += 10
    reporter.train(60, OUTPUTS)
    reporter.finish()
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n")
    lines = text.split("\n")
    assert lines[0].startswith("\rstep 20/800") and "\rstep 40/800" in lines[0]
    assert lines[1:5] == ["validation at step 40:",
                          "             mAP50     FROC  pixel AUPR",
                          "  all       0.5000      n/a         n/a",
                          "  exudate   0.7500   0.2500      0.1250"]
    assert lines[5].startswith("\rstep 60/800 (7%) | epoch 3/40")


def test_a_resumed_run_says_where_it_resumes():
    stream = io.StringIO()
    reporter = progress.TrainingProgress(total_steps=80, steps_per_epoch=40, images_per_step=2, stream=stream)
    reporter.start(40)
    assert stream.getvalue() == "resuming at step 40 of 80\n"


def test_durations_read_as_clock_times():
    assert [progress.duration(s) for s in (0, 59.6, 61, 3600, 3725)] == ["0:00", "1:00", "1:01", "1:00:00", "1:02:05"]
