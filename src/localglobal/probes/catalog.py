"""Every probe by name: the built-in probes, and the plugins a configuration declares.

Importing this module registers the built-in probes (each module in ``probes/`` that
declares one). The rest of the package asks here:

>>> names = probe_names()
>>> names[:4]
['original', 'scramble', 'patch', 'smooth']
>>> get_probe("scramble", {"blocks": [56]}).levels()
[Level(code=56, label='56')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from localglobal.config import RunConfig
from localglobal.errors import ConfigError
from localglobal.probes.colour import ColourProbe
from localglobal.probes.contrast import ContrastProbe
from localglobal.probes.eidolon import EidolonProbe
from localglobal.probes.false_colour import FalseColourProbe
from localglobal.probes.high_pass import HighPassProbe
from localglobal.probes.low_pass import LowPassProbe
from localglobal.probes.original import OriginalProbe
from localglobal.probes.patch import PatchProbe
from localglobal.probes.phase_scrambling import PhaseScramblingProbe
from localglobal.probes.plugin import PluginParams, PluginProbe
from localglobal.probes.power_equalisation import PowerEqualisationProbe
from localglobal.probes.registry import PROBES, Level, Probe, settle_params
from localglobal.probes.rotation import RotationProbe
from localglobal.probes.scramble import ScrambleProbe
from localglobal.probes.smooth import InvertedRemovedDetailProbe, RemovedDetailProbe, SmoothProbe
from localglobal.probes.uniform_noise import UniformNoiseProbe
from localglobal.trust import require_trusted

if TYPE_CHECKING:
    import pandas as pd

BUILT_IN: tuple[type[Probe], ...] = (
    OriginalProbe,
    ScrambleProbe, PatchProbe,
    SmoothProbe, RemovedDetailProbe, InvertedRemovedDetailProbe,
    ColourProbe, ContrastProbe, HighPassProbe, LowPassProbe, PhaseScramblingProbe,
    PowerEqualisationProbe, FalseColourProbe, RotationProbe, UniformNoiseProbe,
    EidolonProbe,
)
"""The built-in probes in the order their items, curves and report sections come."""


def probe_names(*, selectable: bool = False) -> list[str]:
    """The registered probes' names, in registration order.

    Parameters
    ----------
    selectable : bool
        Only those a configuration can list in ``probes.probes`` (not the original and
        the companions another probe makes).
    """
    order = {cls.name: k for k, cls in enumerate(BUILT_IN)}
    names = sorted(PROBES, key=lambda name: order.get(name, len(order)))
    return [name for name in names if PROBES[name].selectable or not selectable]


def probe_class(name: str) -> type[Probe]:
    """The class registered as ``name``.

    Raises
    ------
    ConfigError
        No such probe; the message lists the known ones.
    """
    try:
        return PROBES[name]
    except KeyError:
        raise ConfigError(f"unknown probe {name!r}; known probes: "
                          f"{', '.join(probe_names(selectable=True))}") from None


def get_probe(name: str, params: Mapping[str, Any] | None = None, crop: int = 224) -> Probe:
    """A built-in probe with its parameters settled (defaults for what is not given).

    Parameters
    ----------
    name : str
        The probe's name.
    params : mapping, optional
        Its parameters, as in ``[probes.NAME]``.
    crop : int
        The side of the model-input frame, pixels.

    Raises
    ------
    ConfigError
        Unknown probe, or a parameter it does not accept (naming the key).
    """
    cls = probe_class(name)
    return cls(settle_params(cls, params), crop)


@dataclass(frozen=True)
class ProbeSet:
    """The probes a run makes, settled from its configuration.

    Attributes
    ----------
    probes : tuple of Probe
        The listed probes, in configuration order (their items in this order).
    """

    probes: tuple[Probe, ...]

    def names(self) -> list[str]:
        """Every probe name the run's tables can hold: original, the probes, companions."""
        names = ["original"]
        for probe in self.probes:
            names += [probe.name, *probe.companions()]
        return list(dict.fromkeys(names))

    def get(self, name: str) -> Probe:
        """The run's probe named ``name`` (a companion or the original by its class).

        Raises
        ------
        KeyError
            The run has no such probe.
        """
        for probe in self.probes:
            if probe.name == name:
                return probe
        if name in self.names():
            return get_probe(name, crop=self.probes[0].crop if self.probes else 224)
        raise KeyError(f"the run has no probe {name!r}; it has {self.names()}")

    def code_paths(self) -> list[tuple[str, str]]:
        """Every code reference of the run's probes."""
        return [ref for probe in self.probes for ref in probe.code_paths()]


def configured_probes(config: RunConfig, *, trusted: bool = True,
                      check: bool = False, validate: bool = False) -> ProbeSet:
    """The probes ``config`` asks for, built-in and plugins, parameters settled.

    Parameters
    ----------
    config : RunConfig
        The run's configuration (``probes``, ``frame.crop``).
    trusted : bool
        Whether the configuration was handed over by the user (on the command line or
        with ``--trust-config``). An untrusted one that names code is refused.
    check : bool
        Also run every probe's :meth:`~localglobal.probes.registry.Probe.check`.
    validate : bool
        With ``check``: run the costly checks too (a TorchScript model on a dummy image).

    Raises
    ------
    ConfigError
        An unknown probe, a bad parameter (naming the key), a plugin that shadows a
        built-in probe, or (a :class:`~localglobal.errors.ConfigError`) code in an
        untrusted configuration.
    """
    section = config.probes
    _check_names(config)
    probes = [_settled(config, name) for name in dict.fromkeys(section.probes)]
    found = ProbeSet(tuple(probes))
    for probe in probes:
        probe.trusted = trusted
    for key, reference in found.code_paths():
        require_trusted(key, reference, trusted)
    if check:
        for probe in probes:
            probe.check(validate)
    return found


def _check_names(config: RunConfig) -> None:
    """Refuse plugins that shadow a built-in probe or are not listed, and sections of no
    probe."""
    section = config.probes
    for name in section.plugins:
        if name in PROBES:
            raise ConfigError(f"probes.plugins.{name}: a built-in probe has that name")
    for name in (section.model_extra or {}):
        if name not in PROBES:
            raise ConfigError(f"probes.{name}: no probe of that name; known probes: "
                              f"{', '.join(probe_names(selectable=True))}")
    unused = sorted(set(section.plugins) - set(section.probes))
    if unused:
        raise ConfigError(f"probes.plugins: {', '.join(unused)} declared but not listed in "
                          "probes.probes")


def _settled(config: RunConfig, name: str) -> Probe:
    """The listed probe ``name`` with its section (or plugin entry) settled."""
    section, crop = config.probes, config.frame.crop
    if name in section.plugins:
        params = settle_params(PluginProbe, section.plugins[name])
        assert isinstance(params, PluginParams)
        return PluginProbe(name, params, crop)
    cls = probe_class(name)
    if not cls.selectable:
        raise ConfigError(f"probes.probes: {name} is made by another probe and cannot be "
                          "listed")
    return cls(settle_params(cls, section.section(name)), crop)


class _TableProbe(Probe):
    """A probe a table names that neither the configuration nor the registry knows (a
    plugin since removed from the configuration): shown with its levels as they are."""

    def __init__(self, name: str, crop: int) -> None:
        super().__init__(None, crop)
        self.name = name  # type: ignore[misc]

    def levels(self) -> list[Level]:
        return []

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        raise ConfigError(f"probe {self.name} is in the run's tables but neither in its "
                          "configuration nor a built-in probe: it cannot be applied")


def described_probes(config: RunConfig, present: Iterable[str] = ()) -> list[Probe]:
    """The probes of a run, for its figures, tables and report; no code is loaded.

    Parameters
    ----------
    config : RunConfig
        The run's configuration.
    present : iterable of str
        Probe names found in the run's tables; those the configuration does not list
        come after its own, described by the registry or by their name alone.

    Returns
    -------
    list of Probe
        The original first, then every probe and companion in the configuration's
        order, then the others.
    """
    crop = config.frame.crop
    try:
        configured = configured_probes(config).probes
    except ConfigError:  # a report still describes what the tables hold
        configured = ()
    for probe in configured:
        probe.trusted = False  # described, never run
    out: dict[str, Probe] = {"original": get_probe("original", crop=crop)}
    for probe in configured:
        out[probe.name] = probe
        for companion in probe.companions():
            out[companion] = get_probe(companion, crop=crop)
    for name in present:
        if name not in out:
            out[name] = get_probe(name, crop=crop) if name in PROBES else \
                _TableProbe(name, crop)
    return list(out.values())


def by_section(probes: Iterable[Probe]) -> dict[str, list[Probe]]:
    """Probes grouped by report section, in order (the original has none): probes that
    share a section share its figure, tables and heading."""
    sections: dict[str, list[Probe]] = {}
    for probe in probes:
        if probe.name != "original":
            sections.setdefault(probe.section_key, []).append(probe)
    return sections


def section_title(probes: Sequence[Probe]) -> str:
    """The heading of the section ``probes`` share: one probe's own title, else the
    section's name (``removed_detail`` → "Removed detail")."""
    if len(probes) == 1:
        return probes[0].heading
    return probes[0].section_key.replace("_", " ").capitalize()


def check_sections(config: RunConfig) -> None:
    """Refuse a configuration whose probe list or probe sections are wrong, naming the key
    (``probes.scramble.blockz: unknown key``); no code is loaded and no image touched.

    Raises
    ------
    ConfigError
        As :func:`configured_probes`.
    """
    configured_probes(config)


def on_the_fly(name: str) -> bool:
    """Whether ``name``'s items can be built on the model's device from their records."""
    cls = PROBES.get(name)
    return cls is not None and cls.build is not Probe.build


def apply_probe(name: str, image: np.ndarray, level: object, *, seed: int = 0,
                **params: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Any registered probe on one image: ``localglobal.probe``.

    Parameters
    ----------
    name : str
        The probe (``localglobal.probes()`` lists them): ``"scramble"``,
        ``"contrast"``, ``"phase-scrambling"``, …
    image : numpy.ndarray
        H×W×3 uint8 RGB, in the model-input frame (``localglobal.to_input_frame``);
        the full-resolution image for smoothing.
    level : int, float or str
        The level, by its label (``56``, ``"c50"``, ``"8-10-10"``); a level the
        probe's defaults do not list is taken when the probe's levels are a parameter
        (any block side that divides the image, say).
    seed : int
        Seeds the random probes.
    **params
        The probe's parameters, as in ``[probes.NAME]``.

    Returns
    -------
    (numpy.ndarray, dict)
        The probe image (H×W×3 uint8) and its record, as ``perturbations.parquet``
        stores it.

    Raises
    ------
    ConfigError
        An unknown probe, parameter or level.

    Examples
    --------
    >>> image = np.zeros((224, 224, 3), np.uint8)
    >>> scrambled, record = apply_probe("scramble", image, 112, seed=1)
    >>> sorted(record)
    ['block', 'fixed_blocks', 'permutation']
    """
    image = np.asarray(image)
    probe = get_probe(name, params, crop=int(image.shape[0]))
    try:
        chosen = probe.level(level)
    except KeyError:
        key = probe.levels_key
        if key is None:
            raise ConfigError(f"probe {name} has no level {level!r}; its levels: "
                              f"{[lv.label for lv in probe.levels()]}") from None
        probe = get_probe(name, {**params, key: [level]}, crop=int(image.shape[0]))
        chosen = probe.level(level)
    probe.check(validate=False)
    return probe.apply(image, chosen, np.random.default_rng(seed))


def describe_probes(config: RunConfig | None = None) -> list[dict[str, str]]:
    """One row of text per probe, for ``localglobal probes``; no code is loaded.

    Parameters
    ----------
    config : RunConfig, optional
        A run's configuration: its probes with the levels it sets, plugins included;
        None lists every built-in probe with its default levels.

    Returns
    -------
    list of dict
        ``probe, levels, strongest, built, dataset, keeps, destroys``.
    """
    if config is None:
        probes = [get_probe(name) for name in probe_names(selectable=True)]
    else:
        probes = [p for p in described_probes(config) if p.selectable or
                  isinstance(p, PluginProbe)]
        probes = [p for p in probes if p.name != "original"]
    return [{"probe": p.name, "levels": ", ".join(lv.label for lv in p.levels()),
             "strongest": p.strongest().label if p.levels() else "",
             "built": "on the fly" if p.on_the_fly else "stored",
             "dataset": p.dataset or "", "keeps": p.keeps, "destroys": p.destroys}
            for p in probes]


def probe_table() -> pd.DataFrame:
    """Every probe a configuration can list, with its levels: ``localglobal.probes()``.

    Returns
    -------
    pandas.DataFrame
        One row per probe: ``name, title, levels`` (the default labels),
        ``strongest, on_the_fly`` (built on the model's device, else stored),
        ``full_resolution, dataset`` (the model-vs-human dataset whose humans saw the
        same conditions), ``keeps, destroys, description``.
    """
    import pandas as pd  # only for the listing: the catalog itself stays light

    rows = []
    for name in probe_names(selectable=True):
        probe = get_probe(name)
        rows.append({
            "name": name, "title": probe.heading,
            "levels": [lv.label for lv in probe.levels()],
            "strongest": probe.strongest().label, "on_the_fly": probe.on_the_fly,
            "full_resolution": probe.full_resolution, "dataset": probe.dataset,
            "keeps": probe.keeps, "destroys": probe.destroys,
            "description": probe.description,
        })
    return pd.DataFrame(rows)


__all__ = [
    "ProbeSet",
    "apply_probe",
    "by_section",
    "check_sections",
    "configured_probes",
    "describe_probes",
    "described_probes",
    "get_probe",
    "on_the_fly",
    "probe_class",
    "probe_names",
    "probe_table",
    "section_title",
]
