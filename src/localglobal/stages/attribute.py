"""The ``attribute`` stage: relevance of every model for every item, against edges and box.

Each item (:mod:`~localglobal.attribution.stage_inputs`) is explained by each model in
one pass per control (:mod:`~localglobal.attribution.passes`,
:mod:`~localglobal.attribution.controls`) for its predicted class
(``attribute.target = "predicted"``, the thesis) or its true class (``"true"``) with the
method ``attribute.composite``; a model an LRP composite would attribute wrongly is
refused and reported, the others go on. Writes ``attributions.parquet`` and
``relevance/`` (:mod:`~localglobal.attribution.outputs`) and, with
``attribute.heatmaps``, ``heatmaps/<model>/<name>.png`` overlays of the trained model's
relevance. Work resumes per (model, control, shard of ``run.shard_size`` items); with
``run.executor = "ray"`` each pass runs in Ray actors (one per GPU), with the same
tables.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import StageError
from localglobal.io.atomic import safe_name
from localglobal.models.devices import select_device
from localglobal.models.resolve import model_fingerprints, resolve_model
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import DEVICE, TRUST, model_options

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.attribution.passes import AttributionPass
    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext
    from localglobal.probes.plan import ProbePlan

ATTRIBUTION_ROW_BYTES = 400
"""Bytes of one row of ``attributions.parquet``."""

BACKWARD_FACTOR = 3.0
"""An LRP pass costs about a forward and two backward passes."""


def _params(config: RunConfig) -> dict[str, Any]:
    return {"attribute": config.attribute.model_dump(mode="json"),
            "frame": config.frame.model_dump(mode="json"), "seed": config.run.seed,
            "models": model_fingerprints(config, list(config.attribute.models))}


def _check(config: RunConfig) -> None:
    """Refuse an unknown method before any stage runs."""
    from localglobal.attribution.methods import method_name

    method_name(config.attribute.composite)


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    """Each attributed probe item of every drawn image, per pass, through every model."""
    from localglobal.models.timing import seconds_per_item
    from localglobal.probes.plan import ProbePlan

    settings = config.attribute
    side = config.frame.crop
    per_image = _items_per_image(ProbePlan.from_config(config), settings.probes)
    passes = 1 + ("random-weights" in settings.controls)
    items = (earlier["index"].items or 0) * per_image * passes
    maps = items * len(settings.models) * side * side * 2
    return Estimate.per_model(
        "attribute", items,
        seconds_per_item(config, list(settings.models), settings.batch_size, BACKWARD_FACTOR),
        ATTRIBUTION_ROW_BYTES, extra_bytes=maps)


def _items_per_image(plan: ProbePlan, probes: list[str]) -> int:
    """The items per image of the probes ``attribute.probes`` names that the plan makes."""
    count = 0
    for name in dict.fromkeys(probes):
        with contextlib.suppress(KeyError):
            count += plan.probe(name).items_per_image()
    return count


def _inputs(ctx: StageContext) -> tuple[pd.DataFrame, dict[str, str]]:
    """The items that have an edge mask, and each image's shuffled-edges partner."""
    from localglobal.attribution.controls import derangement
    from localglobal.attribution.stage_inputs import (
        attribution_items,
        empty_edge_images,
        with_edge_masks,
    )
    from localglobal.probes.edge_masks import EdgeMasks

    settings, crop = ctx.config.attribute, ctx.config.frame.crop
    perturbations = ctx.run.read("perturbations") if ctx.run.has("perturbations") else None
    items = attribution_items(ctx.run.read("samples"), perturbations, settings.probes,
                              ctx.run.root)
    missing = sorted(set(settings.probes) - set(items["probe"]))
    if missing:
        ctx.log(f"attribute: no items of probe(s) {', '.join(missing)}", style="yellow")
    edges = EdgeMasks(ctx.run.read("edge_masks"))
    try:
        if edges.shape != (crop, crop):
            raise StageError(f"{ctx.run.artifact_path('edge_masks')}: masks of "
                             f"{edges.shape[1]}×{edges.shape[0]} pixels, but the input frame "
                             f"is {crop}×{crop}; re-run `localglobal edges --run {ctx.run.root}`")
        items, no_mask = with_edge_masks(items, edges)
        shapes = {i: edges.shape for i in items["image_id"].unique()}
    finally:
        edges.close()
    for item_id in no_mask:
        ctx.bad_item(item_id, "no edge mask (the edges stage skipped its image)")
    images = items["image_id"].unique().tolist()
    partner = derangement(images, shapes, ctx.config.run.seed)
    ctx.details.update(missing_probes=missing,
                       empty_edge_masks=empty_edge_images(ctx.run.read("edges"), images),
                       no_shuffled_partner=sorted(set(images) - set(partner))
                       if "shuffled-edges" in settings.controls else [])
    return items, partner


def _passes(ctx: StageContext, name: str, items: pd.DataFrame, partner: dict[str, str],
            device: str) -> list[AttributionPass]:
    """The passes of one model, once it is known that its method fits it."""
    from localglobal.attribution.controls import CALIBRATION_IMAGES
    from localglobal.attribution.passes import AttributionPass

    config, settings, run = ctx.config, ctx.config.attribute, ctx.run
    trained = AttributionPass(
        name, resolve_model(name, config, trusted=ctx.options.trusted), "none", settings,
        (config.frame.crop, config.frame.resize, config.frame.interpolation),
        config.run.seed, device, str(run.artifact_path("edge_masks")),
        outlines=str(run.artifact_path("outline_masks")) if run.has("outline_masks") else None,
        partner=partner if "shuffled-edges" in settings.controls else {},
        heatmaps=str(run.artifact_path("heatmaps") / safe_name(name))
        if settings.heatmaps else None)
    trained.refuse_misfit()
    if "random-weights" not in settings.controls:
        return [trained]
    return [trained, replace(trained, control="random-weights", outlines=None, partner={},
                             heatmaps=None, calibration=tuple(
                                 items.head(CALIBRATION_IMAGES).to_dict("records")))]


def _attribute_model(ctx: StageContext, name: str, items: pd.DataFrame,
                     partner: dict[str, str], device: str) -> pd.DataFrame:
    """Every pass of one model: its rows; its maps go to ``relevance/``."""
    import pandas as pd

    from localglobal.attribution.outputs import (
        BATCH_SIZE_COLUMN,
        SHARD_COLUMNS,
        non_finite_maps,
        write_relevance,
    )
    from localglobal.attribution.passes import PassWorker, pass_items

    tables: dict[str, pd.DataFrame] = {}
    folders: dict[str, Path] = {}
    computed = resumed = 0
    for task in _passes(ctx, name, items, partner, device):
        records, targets, bad = pass_items(task, items, tables.get("none"))
        for item_id, reason in bad:
            ctx.bad_item(item_id, reason)
        key, before = task.key(ctx.upstream_runs), ctx.report.resumed
        folders[task.control] = ctx.shards(**key).folder
        task = replace(task, targets=targets, maps_folder=str(folders[task.control]))
        tables[task.control] = ctx.map_with_worker(
            PassWorker, task, records, key=key, item_id=lambda r: r["item_id"],
            shard_size=ctx.config.run.shard_size,
            description=f"attribute {name} ({task.control})")
        resumed += ctx.report.resumed - before
        computed += len(records) - (ctx.report.resumed - before)
    found = [t for t in tables.values() if len(t)]
    table = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    write_relevance(ctx.run.root, name, table, folders, ctx.config.frame.crop)
    configured = ctx.config.attribute.batch_size
    final = int(table[BATCH_SIZE_COLUMN].min()) if len(table) else configured
    table = table.drop(columns=list(SHARD_COLUMNS), errors="ignore")
    non_finite = len(non_finite_maps(table))
    if non_finite:
        ctx.log(f"attribute {name}: {non_finite} maps with NaN or infinite relevance, kept "
                "with NaN statistics", style="yellow")
    # Halving takes the batch size b to b // 2, so from b to b' takes ⌊log2(b / b')⌋ steps.
    ctx.details.setdefault("per_model", {})[name] = {
        "rows": len(table), "non_finite": non_finite, "batch_size": final,
        "halvings": (configured // final).bit_length() - 1, "computed": computed,
        "resumed": resumed}
    return table


@stage("attribute",
       reads=("samples", "edges", "edge_masks"),
       optional_reads=("perturbations", "outline_masks"),
       writes=(Artifact("attributions", "attributions.parquet", "table",
                        "per (model, control, item): target, logit, relevance statistics "
                        "and localisation metrics versus edges and box"),
               Artifact("relevance", "relevance", "folder",
                        "<model>.npy: N×H×W float16 channel-summed relevance; "
                        "<model>.index.parquet: its rows (image_id, control, row, …)"),
               Artifact("heatmaps", "heatmaps", "folder",
                        "<model>/<item>.png: relevance over the image, with edges and box",
                        always=False)),
       params=_params, version=3, check=_check,
       options=(*model_options("attribute"), DEVICE, TRUST), estimate=_estimate,
       description="Relevance (LRP or a gradient method) per model and image, against edges "
                   "and boxes.")
def attribute(ctx: StageContext) -> dict[str, Any]:
    """``attributions.parquet``, ``relevance/`` and heat maps for every model."""
    from localglobal.attribution.methods import method_name
    from localglobal.attribution.outputs import attributions_table, non_finite_maps

    settings = ctx.config.attribute
    _check(ctx.config)
    names = list(dict.fromkeys(ctx.options.extra.get("models") or settings.models))
    started = time.perf_counter()
    items, partner = _inputs(ctx)
    device = select_device(ctx.device or settings.device)
    # A Ray actor picks its own GPU: it is told the kind of device, not which one.
    where = device.type if ctx.executor == "ray" else str(device)
    tables = ctx.for_each_model(names, lambda n: _attribute_model(ctx, n, items, partner,
                                                                  where))
    table = attributions_table([tables[n] for n in names if n in tables])
    ctx.run.write("attributions", table)
    ctx.run.artifact_path("relevance").mkdir(parents=True, exist_ok=True)
    non_finite = non_finite_maps(table)
    ctx.details["non_finite_items"] = non_finite.to_dict("records")
    per_item = (time.perf_counter() - started) / max(1, len(items) * len(tables))
    return {"models": [n for n in names if n in tables], "items_per_model": len(items),
            "rows": len(table), "non_finite": len(non_finite), "device": str(device),
            "method": method_name(settings.composite), "seconds_per_item": round(per_item, 4)}
