"""A model's life in the attribute stage: loaded on first use, its composite registered per pass.

A model whose every shard is already finished needs no weights at all, so
:class:`ModelSession` loads the trained model only when a shard asks for it, and
builds the randomised copy of the ``random-weights`` control (from the trained model,
its BatchNorm statistics re-estimated on the first images) only when that control has
work. :class:`RegisteredModel` keeps the composite registered on a model for every
batch of one pass, and removes it when the pass ends. A model that fails to build
fails every later call at once (its weights are not read again for each shard), and
:meth:`RegisteredModel.raise_failure` hands that error to the stage, which then reports
the model as failed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import pandas as pd
import torch

from localglobal.attribution.attributor import Attributor
from localglobal.attribution.controls import CALIBRATION_IMAGES, randomize_weights
from localglobal.attribution.items import load_batch


class RegisteredModel:
    """A model built on first call, with the composite registered until :meth:`close`.

    Parameters
    ----------
    build : callable
        ``build() -> torch.nn.Module``, the model without hooks.
    attributor : Attributor
        Whose composite and canonizer are registered.
    name : str
        The model's name, for messages.
    """

    def __init__(self, build: Callable[[], torch.nn.Module], attributor: Attributor,
                 name: str):
        self._build = build
        self._attributor = attributor
        self._name = name
        self._stack = ExitStack()
        self._model: torch.nn.Module | None = None
        self._error: Exception | None = None

    def __call__(self) -> torch.nn.Module:
        """The model, built and registered on the first call.

        Raises
        ------
        Exception
            Whatever building the model raised (missing weights, a canonizer that does
            not fit), on this and every later call.
        """
        if self._error is not None:
            raise self._error
        if self._model is None:
            try:
                model = self._build()
                self._stack.enter_context(self._attributor.registered(model, self._name))
            except Exception as error:
                self._error = error
                raise
            self._model = model
        return self._model

    def raise_failure(self) -> None:
        """Raise the error building the model raised, if it did (a failure of the model,
        not of the shards that asked for it)."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Remove the composite (the model is as it was) and drop the reference."""
        self._stack.close()
        self._model = None

    def __enter__(self) -> RegisteredModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ModelSession:
    """The trained model and its randomised copy, each made when first needed.

    Parameters
    ----------
    load : callable
        ``load() -> torch.nn.Module``: the trained model, in eval mode, on the device.
    attributor : Attributor
        The model's attributor (normalisation, device).
    name : str
        The model's name.
    seed : int
        Seed of the random-weights control.
    items : pandas.DataFrame
        The stage's items; the first :data:`CALIBRATION_IMAGES` calibrate the random
        network's BatchNorm statistics.
    frame : (int, int, str)
        ``(crop, resize, interpolation)``.
    """

    def __init__(self, load: Callable[[], torch.nn.Module], attributor: Attributor,
                 name: str, seed: int, items: pd.DataFrame, frame: tuple[int, int, str]):
        self._load = load
        self.attributor = attributor
        self.name = name
        self.seed = seed
        self.items = items
        self.frame = frame
        self._trained: torch.nn.Module | None = None

    def trained(self) -> torch.nn.Module:
        """The trained model, loaded on first use."""
        if self._trained is None:
            self._trained = self._load()
        return self._trained

    def calibration(self) -> torch.Tensor | None:
        """The first images, normalised on the device (None unless two or more load)."""
        records = self.items.head(CALIBRATION_IMAGES).to_dict("records")
        good, images, _ = load_batch(records, self.frame)
        return self.attributor.normalise(images) if images is not None and len(good) > 1 \
            else None

    def randomized(self) -> torch.nn.Module:
        """The random-weights control's model; the trained one is let go afterwards."""
        calibration = self.calibration()
        with torch.no_grad():
            model = randomize_weights(self.trained(), self.seed, calibration)
        self._trained = None  # the trained weights are no longer needed: free them
        return model

    def pass_model(self, control: str) -> RegisteredModel:
        """The model a pass explains: ``none`` the trained one, ``random-weights`` its copy."""
        build = self.randomized if control == "random-weights" else self.trained
        return RegisteredModel(build, self.attributor, self.name)

    def close(self) -> None:
        """Let the models go."""
        self._trained = None
