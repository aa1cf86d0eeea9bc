"""What training raises to its caller; light (no TensorFlow), so that the command line can catch it."""

# EX_TEMPFAIL (sysexits.h): a temporary failure, to be run again later.
PREEMPTED_EXIT_STATUS = 75


class Preempted(Exception):
    """Training stopped on SIGTERM or SIGINT after saving a checkpoint at `step`."""

    def __init__(self, step: int, checkpoint_dir=None):
        where = f" in {checkpoint_dir}" if checkpoint_dir else ""
        super().__init__(f"preempted: checkpoint saved at step {step}{where}; run the same command again to resume")
        self.step = step
