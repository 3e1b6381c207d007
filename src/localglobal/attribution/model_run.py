"""One model's attribution: its passes, their shard keys and tasks, its maps and counts.

A :class:`ModelRun` refuses a model LRP would attribute wrongly (before any weights
are loaded), chooses the items and target classes of each pass — ``none`` explains
the predicted (or true) classes, ``random-weights`` the classes the trained model
explained — says what each pass's worker needs
(:class:`~localglobal.attribution.passes.AttributionPass`), and, once the passes are
done, assembles the model's relevance maps and rows. The stage runs each pass's
shards through the kernel's stateful worker
(:class:`~localglobal.attribution.passes.PassWorker`), in this process or on Ray actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from localglobal.attribution.controls import CALIBRATION_IMAGES
from localglobal.attribution.explainer import Explainer, refuse_without_canonizer
from localglobal.attribution.items import true_targets
from localglobal.attribution.methods import Settings, is_lrp, resolve_method
from localglobal.attribution.outputs import (
    MAP_ROW_COLUMN,
    MAPS_COLUMN,
    non_finite_maps,
    shard_map_parts,
    write_relevance,
)
from localglobal.attribution.passes import BATCH_SIZE_COLUMN, AttributionPass
from localglobal.config import RunConfig
from localglobal.io.atomic import safe_name
from localglobal.models import ModelSpec, load_model


def architecture(spec: ModelSpec) -> torch.nn.Module:
    """The model's architecture without weights: enough to see whether a canonizer fits.

    Built on the meta device (no initialisation, so even VGG-16 takes milliseconds) and
    given uninitialised CPU storage. A BatchNorm the canonizer folds becomes the exact
    identity whatever its values; one it misses keeps values that are not the identity.
    A builder that computes on its tensors while it builds is built for real instead.
    """
    try:
        with torch.device("meta"):
            model = load_model(spec, pretrained=False, device="meta")
        return model.to_empty(device="cpu")
    except Exception:  # any trouble on the meta device: build it for real
        return load_model(spec, pretrained=False)


@dataclass
class AttributeInputs:
    """What every model of one stage run shares.

    Attributes
    ----------
    items : pandas.DataFrame
        The items with an edge mask (:func:`~localglobal.attribution.items.attribution_items`).
    edges_path : Path
        The run's edge masks (``edges.npz``).
    partner : dict
        image_id → the image whose edges the ``shuffled-edges`` control uses.
    upstream : dict
        The run ids of the stages read; part of every shard key.
    device : torch.device
        Where the models run (in this process; a Ray actor takes its own GPU).
    outlines_path : Path or None
        The true outlines (a second shape proxy) when the run has them.
    """

    items: pd.DataFrame
    edges_path: Path
    partner: dict[str, str]
    upstream: dict[str, Any]
    device: torch.device
    outlines_path: Path | None = None


def halvings_to(start: int, final: int) -> int:
    """How often halving (``max(1, b // 2)``) takes a batch size from ``start`` to ``final``."""
    count, size = 0, start
    while size > final:
        size, count = max(1, size // 2), count + 1
    return count


class ModelRun:
    """The passes of one model.

    Parameters
    ----------
    name : str
        The model's name.
    spec : ModelSpec
        Its resolved spec.
    config : RunConfig
        The run configuration (``attribute``, ``frame``, ``run.seed``).
    inputs : AttributeInputs
        The stage's shared inputs.
    heatmap_root : Path or None
        ``heatmaps/`` of the run when heat maps are drawn.

    Raises
    ------
    ModelRefused
        An LRP composite and no canonizer, or a canonizer that does not fit the
        architecture (checked on an unweighted build).
    """

    def __init__(self, name: str, spec: ModelSpec, config: RunConfig,
                 inputs: AttributeInputs, heatmap_root: Path | None):
        settings = config.attribute
        self.method = resolve_method(settings.composite, spec.canonizer)
        refuse_without_canonizer(name, spec.arch, spec.canonizer, self.method)
        self.lrp = is_lrp(self.method)
        self.name, self.spec, self.inputs = name, spec, inputs
        self.settings, self.seed = settings, config.run.seed
        self.frame = (config.frame.crop, config.frame.resize, config.frame.interpolation)
        if self.lrp:  # refuse a misfitting canonizer before loading any weights
            Explainer(self.method, spec.canonizer, torch.device("cpu"), settings.batch_size,
                      Settings(epsilon=settings.epsilon, mean=spec.mean, std=spec.std),
                      ).check_fit(architecture(spec), name)
        self.heatmaps = heatmap_root / safe_name(name) if heatmap_root is not None else None
        self.controls = ("none", *(["random-weights"]
                                   if "random-weights" in settings.controls else []))
        self.maps_folders: dict[str, Path] = {}

    def key(self, control: str) -> dict[str, Any]:
        """Everything besides the items that changes a shard of ``control``'s pass."""
        s = self.settings
        key = {"model": self.spec.fingerprint(), "composite": s.composite,
               "epsilon": s.epsilon, "target": s.target, "frame": list(self.frame),
               "seed": self.seed, "upstream": self.inputs.upstream, "heatmaps": s.heatmaps,
               "control": control}
        if control == "none":
            key["shuffled"] = "shuffled-edges" in s.controls
            key["outlines"] = self.inputs.outlines_path is not None
        return key

    def pass_items(self, control: str, tables: dict[str, pd.DataFrame],
                   ) -> tuple[list[dict[str, Any]], dict[str, int] | None, list[tuple[str, str]]]:
        """The items and target classes of a pass, and the items left out as bad.

        ``none`` explains every item (with ``target = "true"``: those whose class is in
        the model's label space); ``random-weights`` the items the trained model
        explained (``tables["none"]``), for the same classes.
        """
        records = self.inputs.items.to_dict("records")
        if control == "random-weights":
            none = tables.get("none", pd.DataFrame())
            none = none[none["control"] == "none"] if len(none) else none
            targets = {str(k): int(v) for k, v in zip(none.get("item_id", []),
                                                      none.get("target", []), strict=True)}
            return [r for r in records if r["item_id"] in targets], targets, []
        if self.settings.target != "true":
            return records, None, []
        targets = true_targets(self.inputs.items, self.spec.label_space)
        bad = [(r["item_id"], f"{self.name}: true class outside the model's label space "
                f"{self.spec.label_space!r}") for r in records if r["item_id"] not in targets]
        return [r for r in records if r["item_id"] in targets], targets, bad

    def task(self, control: str, targets: dict[str, int] | None, maps_folder: Path,
             device: str) -> AttributionPass:
        """What the worker of ``control``'s pass needs (picklable, for a Ray actor too)."""
        none = control == "none"
        self.maps_folders[control] = maps_folder
        inputs, settings = self.inputs, self.settings
        return AttributionPass(
            model_name=self.name, spec=self.spec, control=control, method=self.method,
            canonizer=self.spec.canonizer if self.lrp else None, epsilon=settings.epsilon,
            batch_size=settings.batch_size, device=device, seed=self.seed, frame=self.frame,
            targets=targets, edges_path=str(inputs.edges_path),
            outlines_path=str(inputs.outlines_path) if none and inputs.outlines_path else None,
            partner=inputs.partner, shuffled=none and "shuffled-edges" in settings.controls,
            maps_folder=str(maps_folder),
            heatmap_folder=str(self.heatmaps) if none and self.heatmaps else None,
            calibration=tuple(inputs.items.head(CALIBRATION_IMAGES).to_dict("records")))

    def finish(self, root: Path, tables: dict[str, pd.DataFrame],
               counts: dict[str, tuple[int, int]]) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Write ``relevance/<model>.npy`` and its index; the rows and the model's counts.

        Parameters
        ----------
        root : Path
            The run directory.
        tables : dict
            control → the pass's rows (as the shards returned them).
        counts : dict
            control → (items of the pass, items resumed from finished shards).

        Returns
        -------
        (pandas.DataFrame, dict)
            The model's rows, and ``rows, non_finite, batch_size, halvings, computed,
            resumed`` (items) for the report.
        """
        passes = [c for c in self.controls if c in self.maps_folders]
        parts = [part for control in passes for part in shard_map_parts(
            tables.get(control, pd.DataFrame()), control, self.maps_folders[control])]
        by_item = self.inputs.items.set_index("item_id")
        where = dict(zip(by_item.index, zip(by_item["image_id"], by_item["probe"],
                                            strict=True), strict=True))
        write_relevance(root, self.name, parts, where, self.frame[0])
        found = [t for c in passes if len(t := tables.get(c, pd.DataFrame()))]
        table = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
        configured = self.settings.batch_size
        final = int(table[BATCH_SIZE_COLUMN].min()) if BATCH_SIZE_COLUMN in table \
            and len(table) else configured
        table = table.drop(columns=[MAPS_COLUMN, MAP_ROW_COLUMN, BATCH_SIZE_COLUMN],
                           errors="ignore")
        resumed = sum(counts.get(c, (0, 0))[1] for c in passes)
        details = {"rows": len(table), "non_finite": len(non_finite_maps(table)),
                   "batch_size": final, "halvings": halvings_to(configured, final),
                   "computed": sum(counts.get(c, (0, 0))[0] for c in passes) - resumed,
                   "resumed": resumed}
        return table, details
