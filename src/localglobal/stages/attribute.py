"""The ``attribute`` stage: LRP relevance of every model for every item, versus edges and box.

Each item (:mod:`localglobal.attribution.items`) is explained for its model's predicted
class (``attribute.target = "predicted"``, the thesis) or its true class (``"true"``)
by the composite ``attribute.composite`` with the canonizer the model's spec names; a
model that LRP would attribute wrongly is refused and reported, the others go on.
Controls (``attribute.controls``): :mod:`localglobal.attribution.controls`. Where the
edges stage wrote the true outlines (``outlines.npz``, from ``data.outlines``), the
trained model's maps are scored against them as well (``proxy = "outline"`` rows).

Writes ``attributions.parquet``, ``relevance/<model>.npy`` and its index
(:mod:`localglobal.attribution.outputs`;
maps of ``none`` and ``random-weights``) and, with ``attribute.heatmaps``,
``heatmaps/<model>/<name>.png`` overlays of the trained model's relevance. Work resumes
per (model, control, shard of ``run.shard_size`` items); running out of device memory
halves the batch. Each pass's shards go to the kernel's stateful worker
(:class:`~localglobal.attribution.passes.PassWorker`): the model is loaded once, in this process or,
with ``run.executor = "ray"``, in each Ray actor (one per GPU), and the tables are the
same either way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from localglobal.errors import StageError
from localglobal.models.devices import select_device
from localglobal.models.resolve import model_fingerprints, resolve_model
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import DEVICE, TRUST, model_options

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.attribution.model_run import AttributeInputs
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
        try:
            probe = plan.probe(name)
        except KeyError:
            continue
        count += sum(len(probe.variants(level)) for level in probe.levels())
    return count


def _inputs(ctx: StageContext) -> AttributeInputs:
    """The items that have an edge mask, the masks, the shuffled-edges partners."""
    from localglobal.attribution.controls import derangement
    from localglobal.attribution.items import (
        EdgeMasks,
        attribution_items,
        empty_edge_images,
        with_edge_masks,
    )
    from localglobal.attribution.model_run import AttributeInputs

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
    # Shards are kept apart per upstream run: new images or edges redo them.
    upstream = ctx.upstream_runs
    device = select_device(ctx.device or settings.device)
    outlines = ctx.run.artifact_path("outline_masks") if ctx.run.has("outline_masks") \
        else None
    return AttributeInputs(items, ctx.run.artifact_path("edge_masks"), partner, upstream,
                           device, outlines)


def _attribute_model(ctx: StageContext, name: str, inputs: AttributeInputs) -> pd.DataFrame:
    """Every control of one model: its rows; its maps go to ``relevance/``."""
    from localglobal.attribution.model_run import ModelRun
    from localglobal.attribution.passes import PassWorker

    heatmaps = ctx.run.artifact_path("heatmaps") if ctx.config.attribute.heatmaps else None
    model = ModelRun(name, resolve_model(name, ctx.config, trusted=ctx.options.trusted),
                     ctx.config, inputs, heatmaps)
    # A Ray actor picks its own GPU: it is told the kind of device, not which one.
    device = inputs.device.type if ctx.executor == "ray" else str(inputs.device)
    tables: dict[str, pd.DataFrame] = {}
    counts: dict[str, tuple[int, int]] = {}
    for control in model.controls:
        records, targets, bad = model.pass_items(control, tables)
        for item_id, reason in bad:
            ctx.bad_item(item_id, reason)
        key, resumed = model.key(control), ctx.report.resumed
        task = model.task(control, targets, ctx.shards(**key).folder, device)
        tables[control] = ctx.map_with_worker(
            PassWorker, task, records, key=key, item_id=lambda r: r["item_id"],
            shard_size=ctx.config.run.shard_size,
            description=f"attribute {name} ({control})")
        counts[control] = (len(records), ctx.report.resumed - resumed)
    table, details = model.finish(ctx.run.root, tables, counts)
    if details["non_finite"]:
        ctx.log(f"attribute {name}: {details['non_finite']} maps with NaN or infinite "
                "relevance, kept with NaN statistics", style="yellow")
    ctx.details.setdefault("per_model", {})[name] = details
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
       params=_params, version=2, check=_check,
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
    inputs = _inputs(ctx)
    tables = ctx.for_each_model(names, lambda n: _attribute_model(ctx, n, inputs))
    table = attributions_table([tables[n] for n in names if n in tables])
    ctx.run.write("attributions", table)
    ctx.run.artifact_path("relevance").mkdir(parents=True, exist_ok=True)
    non_finite = non_finite_maps(table)
    ctx.details["non_finite_items"] = non_finite.to_dict("records")
    per_item = (time.perf_counter() - started) / max(1, len(inputs.items) * len(tables))
    return {"models": [n for n in names if n in tables], "items_per_model": len(inputs.items),
            "rows": len(table), "non_finite": len(non_finite), "device": str(inputs.device),
            "method": method_name(settings.composite), "seconds_per_item": round(per_item, 4)}
