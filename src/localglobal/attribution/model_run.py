"""One model's attribution: its passes, their shard keys and plans, its maps and counts.

A :class:`ModelRun` refuses a model LRP would attribute wrongly (before any weights
are loaded), chooses the items and target classes of each pass — ``none`` explains
the predicted (or true) classes, ``random-weights`` the classes the trained model
explained — and, once the passes are done, assembles the model's relevance maps and
rows. The stage runs each pass's shards (:func:`~localglobal.attribution.shard.attribute_shard`).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from localglobal.attribution.attributor import Attributor, refuse_without_canonizer
from localglobal.attribution.items import EdgeMasks, true_targets
from localglobal.attribution.lrp import is_lrp, method_name, resolve_composite
from localglobal.attribution.relevance_store import (
    MAP_ROW_COLUMN,
    MAPS_COLUMN,
    shard_map_parts,
    write_relevance,
)
from localglobal.attribution.session import ModelSession, RegisteredModel
from localglobal.attribution.shard import PassPlan
from localglobal.attribution.table import non_finite_maps
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
    edges : EdgeMasks
        The run's edge masks.
    partner : dict
        image_id → the image whose edges the ``shuffled-edges`` control uses.
    upstream : dict
        The run ids of the stages read; part of every shard key.
    device : torch.device
        Where the models run.
    pool : ThreadPoolExecutor
        Threads that read images and score maps.
    outlines : EdgeMasks or None
        The true outlines (a second shape proxy) when the run has them.
    """

    items: pd.DataFrame
    edges: EdgeMasks
    partner: dict[str, str]
    upstream: dict[str, Any]
    device: torch.device
    pool: ThreadPoolExecutor
    outlines: EdgeMasks | None = None


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
        composite = resolve_composite(settings.composite, spec.canonizer)
        refuse_without_canonizer(name, spec.arch, spec.canonizer, composite)
        lrp = is_lrp(composite)
        self.name, self.spec, self.inputs = name, spec, inputs
        self.settings, self.seed, self.shard_size = settings, config.run.seed, \
            config.run.shard_size
        self.frame = (config.frame.crop, config.frame.resize, config.frame.interpolation)
        self.attributor = Attributor(composite, spec.canonizer if lrp else None,
                                     settings.epsilon, spec.mean, spec.std, inputs.device,
                                     settings.batch_size)
        if lrp:  # refuse a misfitting canonizer before loading any weights
            self.attributor.check_fit(architecture(spec), name)
        self.session = ModelSession(lambda: load_model(spec, device=inputs.device),
                                    self.attributor, name, self.seed, inputs.items, self.frame)
        self.heatmaps = heatmap_root / safe_name(name) if heatmap_root is not None else None
        self.controls = ("none", *(["random-weights"]
                                   if "random-weights" in settings.controls else []))
        self.plans: dict[str, PassPlan] = {}
        self.records: dict[str, list[dict[str, Any]]] = {}

    def key(self, control: str) -> dict[str, Any]:
        """Everything besides the items that changes a shard of ``control``'s pass."""
        s = self.settings
        key = {"model": self.spec.fingerprint(), "composite": s.composite,
               "epsilon": s.epsilon, "target": s.target, "frame": list(self.frame),
               "seed": self.seed, "upstream": self.inputs.upstream, "heatmaps": s.heatmaps,
               "control": control}
        if control == "none":
            key["shuffled"] = "shuffled-edges" in s.controls
            key["outlines"] = self.inputs.outlines is not None
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

    def pass_model(self, control: str) -> RegisteredModel:
        """The pass's model, built and registered on first use (a context manager)."""
        return self.session.pass_model(control)

    def plan(self, control: str, model: RegisteredModel, targets: dict[str, int] | None,
             maps_folder: Path) -> PassPlan:
        """The plan every shard of ``control``'s pass shares."""
        none = control == "none"
        self.plans[control] = PassPlan(
            model_name=self.name, method=method_name(self.attributor.composite),
            control=control, model=model, attributor=self.attributor, targets=targets,
            edges=self.inputs.edges, partner=self.inputs.partner,
            shuffled=none and "shuffled-edges" in self.settings.controls, frame=self.frame,
            maps_folder=maps_folder, heatmap_folder=self.heatmaps if none else None,
            pool=self.inputs.pool, outlines=self.inputs.outlines if none else None)
        return self.plans[control]

    def finish(self, root: Path, tables: dict[str, pd.DataFrame], items: dict[str, int],
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Write ``relevance/<model>.npy`` and its index; the rows and the model's counts.

        Parameters
        ----------
        root : Path
            The run directory.
        tables : dict
            control → the pass's rows (as the shards returned them).
        items : dict
            control → how many items the pass had (for the shard counts).

        Returns
        -------
        (pandas.DataFrame, dict)
            The model's rows, and ``rows, non_finite, batch_size, halvings, computed,
            resumed`` (shards) for the report.
        """
        self.session.close()
        passes = [c for c in self.controls if c in self.plans]
        parts = [part for control in passes for part in shard_map_parts(
            tables.get(control, pd.DataFrame()), control, self.plans[control].maps_folder)]
        by_item = self.inputs.items.set_index("item_id")
        where = dict(zip(by_item.index, zip(by_item["image_id"], by_item["probe"],
                                            strict=True), strict=True))
        write_relevance(root, self.name, parts, where, self.frame[0])
        found = [t for c in passes if len(t := tables.get(c, pd.DataFrame()))]
        table = pd.concat(found, ignore_index=True).drop(
            columns=[MAPS_COLUMN, MAP_ROW_COLUMN]) if found else pd.DataFrame()
        shards = sum(math.ceil(items.get(c, 0) / self.shard_size) for c in passes)
        attempted = sum(self.plans[c].attempted for c in passes)
        counts = {"rows": len(table), "non_finite": len(non_finite_maps(table)),
                  "batch_size": self.attributor.batch_size,
                  "halvings": self.attributor.halvings,
                  "computed": sum(self.plans[c].computed for c in passes),
                  "resumed": shards - attempted}
        return table, counts
