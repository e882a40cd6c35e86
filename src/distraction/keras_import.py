"""Import Keras and TensorFlow without the optional extras they never need here.

Keras imports scikit-learn (for its ``keras.wrappers`` estimators) and ``matplotlib.pyplot``
(for ``keras.visualization``) eagerly whenever they are installed, and both are installed
for the baselines and the figures. In a network job that adds 1-1.7 s to every start of
TensorFlow (``python -X importtime -c "import tensorflow"``), for modules the job never
uses. Importing through this module hides the two from Keras, which then leaves those
wrappers unavailable as it does when they are not installed; later ``import sklearn`` or
``import matplotlib`` in the same process work as usual.

TensorFlow and Keras are the ``train`` (or ``gpu``) extra: without them, importing this
module raises :class:`~distraction.errors.InputError` with one line naming the extra, which
the command line prints as the job's error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from distraction.errors import InputError

__all__ = ["TENSORFLOW_MISSING", "hidden_modules", "keras", "tf"]

#: The one-line error of a job that needs TensorFlow where it is not installed.
TENSORFLOW_MISSING = (
    "this needs TensorFlow (training, exporting a .keras model to LiteRT, the keras engine), "
    "which is not installed: install the train extra (pip install -e '.[train]'), "
    "or the gpu extra for NVIDIA GPUs (pip install -e '.[gpu]')"
)

#: Installed, needed by other stages, unused by Keras' layers, saving and training.
KERAS_EXTRAS: tuple[str, ...] = ("sklearn", "matplotlib", "matplotlib.pyplot")


@contextmanager
def hidden_modules(names: Sequence[str]) -> Iterator[None]:
    """Make ``import name`` raise ImportError inside the block.

    Only modules not imported yet are hidden (a module already loaded stays usable);
    afterwards they import normally again.
    """
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


try:
    with hidden_modules(KERAS_EXTRAS):
        import keras
        import tensorflow as tf
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] not in ("tensorflow", "keras"):
        raise
    raise InputError(TENSORFLOW_MISSING) from None
