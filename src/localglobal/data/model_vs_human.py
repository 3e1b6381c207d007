"""model-vs-human's 17 datasets: their names, conditions and the conditions its benchmark drops.

Geirhos et al. 2021 ("Partial success in closing the gap between human and machine
vision", bethgelab/model-vs-human) test 16-class decisions on 17 datasets: the five
non-parametric ones (``cue-conflict``, ``edge``, ``silhouette``, ``sketch``,
``stylized``: one condition each) and twelve parametric ones, each a manipulation at
several strengths (its *conditions*, the strings its file names and raw data carry:
``c50``, ``3.0``, ``8-10-10`` …). Its benchmark leaves some conditions out of the
averages (:attr:`Dataset.excluded`): the undistorted control, and the conditions where
the humans' mean accuracy is below 0.2 (error consistency means little there).

>>> DATASETS["contrast"].conditions[:3]
('c100', 'c50', 'c30')
>>> DATASETS["contrast"].benchmark_conditions
('c50', 'c30', 'c15', 'c10', 'c05')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    """One of model-vs-human's datasets.

    Attributes
    ----------
    name : str
        Its name (the release archive's and the raw data's folder name).
    conditions : tuple of str
        The conditions, weakest manipulation first (empty: one condition).
    labels : tuple of str
        How a plot labels each condition.
    xlabel : str
        What the conditions measure.
    excluded : tuple of str
        Conditions its benchmark leaves out.
    """

    name: str
    conditions: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    xlabel: str = ""
    excluded: tuple[str, ...] = ()

    @property
    def parametric(self) -> bool:
        """Whether the dataset varies a manipulation over several conditions."""
        return bool(self.conditions)

    @property
    def benchmark_conditions(self) -> tuple[str, ...]:
        """The conditions its benchmark averages over (all but :attr:`excluded`)."""
        return tuple(c for c in self.conditions if c not in self.excluded)

    def label(self, condition: str) -> str:
        """The plot label of ``condition`` (itself where none is known)."""
        lookup = dict(zip(self.conditions, self.labels, strict=False))
        return lookup.get(condition, condition)


_EIDOLON_LABELS = ("0", "1", "2", "3", "4", "5", "6", "7")
_EIDOLON_X = "log2 of the reach parameter"


def _eidolon(name: str, coherence: str, excluded: tuple[str, ...]) -> Dataset:
    conditions = tuple(f"{2 ** k}-{coherence}-10" for k in range(8))
    return Dataset(name, conditions, _EIDOLON_LABELS, _EIDOLON_X, excluded)


NON_PARAMETRIC: tuple[str, ...] = ("cue-conflict", "edge", "silhouette", "sketch", "stylized")
"""The datasets with one condition."""

_ALL = (
    *(Dataset(name) for name in NON_PARAMETRIC),
    Dataset("colour", ("cr", "bw"), ("colour", "greyscale"), "colour", ("cr",)),
    Dataset("contrast", ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"),
            ("100", "50", "30", "15", "10", "5", "3", "1"), "contrast in percent",
            ("c100", "c03", "c01")),
    Dataset("high-pass", ("inf", "3.0", "1.5", "1.0", "0.7", "0.55", "0.45", "0.4"),
            ("inf", "3.0", "1.5", "1.0", ".7", ".55", ".45", ".4"),
            "filter standard deviation", ("inf", "0.55", "0.45", "0.4")),
    Dataset("low-pass", ("0", "1", "3", "5", "7", "10", "15", "40"),
            ("0", "1", "3", "5", "7", "10", "15", "40"), "filter standard deviation",
            ("0", "15", "40")),
    Dataset("phase-scrambling", ("0", "30", "60", "90", "120", "150", "180"),
            ("0", "30", "60", "90", "120", "150", "180"), "phase noise width [°]",
            ("0", "150", "180")),
    Dataset("power-equalisation", ("0", "pow"), ("original", "equalised"), "power spectrum",
            ("0",)),
    Dataset("false-colour", ("True", "False"), ("true", "opponent"), "colour", ("True",)),
    Dataset("rotation", ("0", "90", "180", "270"), ("0", "90", "180", "270"),
            "rotation angle [°]", ("0",)),
    _eidolon("eidolonI", "10", ("1-10-10", "64-10-10", "128-10-10")),
    _eidolon("eidolonII", "3", ("1-3-10", "32-3-10", "64-3-10", "128-3-10")),
    _eidolon("eidolonIII", "0", ("1-0-10", "16-0-10", "32-0-10", "64-0-10", "128-0-10")),
    Dataset("uniform-noise", ("0.0", "0.03", "0.05", "0.1", "0.2", "0.35", "0.6", "0.9"),
            ("0.0", ".03", ".05", ".1", ".2", ".35", ".6", ".9"), "uniform noise width",
            ("0.0", "0.6", "0.9")),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in _ALL}
"""All 17 datasets by name, in model-vs-human's order (non-parametric first)."""

PARAMETRIC: tuple[str, ...] = tuple(d.name for d in _ALL if d.parametric)
"""The twelve parametric datasets."""


def dataset(name: str) -> Dataset:
    """The dataset called ``name``; an unknown name is a one-condition dataset of that name."""
    return DATASETS.get(name, Dataset(name))


SINGLE_CONDITION = "0"
"""The condition of every trial of a non-parametric dataset (as its raw data say)."""


def canonical_condition(name: str, raw: str | None) -> str:
    """``raw`` as one of dataset ``name``'s condition strings.

    File names and raw data spell some conditions otherwise than model-vs-human's
    experiment definitions (``1`` for ``1.0``, ``0.10`` for ``0.1``, ``true`` for
    ``True``); model-vs-human reads them as numbers or booleans. A condition that
    matches none is returned as it is; a non-parametric dataset's is always ``0``.

    >>> canonical_condition("uniform-noise", "0.10"), canonical_condition("high-pass", "1")
    ('0.1', '1.0')
    >>> canonical_condition("false-colour", "true")
    'True'
    """
    known = dataset(name)
    if not known.parametric:
        return SINGLE_CONDITION
    text = "" if raw is None else str(raw).strip()
    if text in known.conditions:
        return text
    for condition in known.conditions:
        if condition.lower() == text.lower():
            return condition
        try:
            if float(condition) == float(text):
                return condition
        except ValueError:
            continue
    return text


def condition_of(file_name: str) -> str | None:
    """The condition in a trial's file name: its 4th ``_`` field, if it has one.

    >>> condition_of("0001_cop_s01_c30_knife_10_n03041632_7380.png")
    'c30'
    >>> condition_of("airplane1-bicycle2.png") is None
    True
    """
    parts = file_name.split("_")
    return parts[3] if len(parts) > 4 else None


def category_of(file_name: str) -> str | None:
    """The category in a trial's file name: its 5th ``_`` field, if it has one.

    >>> category_of("0001_cop_s01_c30_knife_10_n03041632_7380.png")
    'knife'
    """
    parts = file_name.split("_")
    return parts[4] if len(parts) > 4 else None


def image_id(file_name: str) -> str:
    """The stimulus a trial showed, the same for every observer (model-vs-human's rule).

    The file name's last ``_`` field, or its last two when they are an ImageNet file
    name (``n02951358_5952.JPEG``); trial number, subject and condition are dropped.

    >>> image_id("0000_cl_s01_bw_boat_40_n02951358_5952.JPEG")
    'n02951358_5952.JPEG'
    >>> image_id("0001_s5n_s01_0_bird_00_bird3-bird2.png")
    'bird3-bird2.png'
    """
    parts = file_name.split("_")
    if len(parts) < 2:
        return file_name
    if parts[-2].startswith("n0"):
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1]


__all__ = ["DATASETS", "NON_PARAMETRIC", "PARAMETRIC", "SINGLE_CONDITION", "Dataset",
           "canonical_condition", "category_of", "condition_of", "dataset", "image_id"]
