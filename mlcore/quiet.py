"""TensorFlow's own log lines (no CUDA driver, oneDNN notices, the converter's advice) look like failures on a machine
without a GPU: a command shows them from -v 2 on only."""

import contextlib
import logging
import os
import sys
import warnings


def quiet_tensorflow(verbosity: int) -> None:
    """Load TensorFlow and Keras quietly below `verbosity` 2. TensorFlow writes its lines to the process's stderr when
    it loads, before any setting of its own is read, so it is imported here with stderr closed; an error raised while
    it loads still reaches the user, as the exception the caller prints."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbosity >= 2 else "3"
    if verbosity >= 2:
        return
    warnings.filterwarnings("ignore", module="(keras|tensorflow|absl)")
    logging.getLogger("absl").setLevel(logging.ERROR)
    with _stderr_discarded():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _stderr_discarded():
    """File descriptor 2 to /dev/null while the block runs (what C++ libraries write goes there too)."""
    sys.stderr.flush()
    saved, discard = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(discard, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(discard)
