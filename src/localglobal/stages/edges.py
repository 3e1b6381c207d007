"""The ``edges`` stage: Canny edges (the shape proxy) of every sample, in the input frame.

Reads ``samples.parquet``; writes ``edges.parquet`` (image_id, the thresholds, edge
pixels in all, inside and outside the box, ``empty``, and the edge record's further
fields such as the threshold ``rule``) and ``edges.npz`` (one packed mask per image;
read it with :func:`localglobal.probes.edge_masks.unpack_masks`). Work resumes shard
by shard (``run.shard_size`` images); an image that cannot be used is reported and
skipped; masks without a single edge pixel are counted and listed in the report.
With ``data.outlines`` (the toy world's true outlines) it also writes ``outlines.npz``,
the outlines in the input frame in the format of ``edges.npz``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import WORKERS
from localglobal.stages.index import CALIBRATION_IMAGES, drawn_images

if TYPE_CHECKING:
    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext


def _params(config: RunConfig) -> dict[str, Any]:
    return {"edges": config.edges.model_dump(mode="json"),
            "frame": config.frame.model_dump(mode="json"), "outlines": config.data.outlines}


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    """Canny on the first images, in the input frame; one packed bit per mask pixel."""
    from localglobal.io.images import decode_rgb
    from localglobal.probes.edge_masks import EdgePlan
    from localglobal.probes.plan import ProbePlan

    images = drawn_images(config)
    frame, plan = ProbePlan.from_config(config).frame, EdgePlan.from_config(config)
    frames = [frame(decode_rgb(image[1])) for image in images[:CALIBRATION_IMAGES]]
    started = time.perf_counter()
    for image in frames:
        plan.canny(image)
    per_image = (time.perf_counter() - started) / max(1, len(frames))
    side = config.frame.crop
    return Estimate("edges", len(images), len(images) * side * side // 8,
                    per_image * len(images))

@stage("edges",
       reads=("samples",),
       writes=(Artifact("edges", "edges.parquet", "table",
                        "per image: Canny thresholds, edge pixels in all, in and outside "
                        "the box, empty (no edge pixel)"),
               Artifact("edge_masks", "edges.npz", "arrays",
                        "one packed boolean edge mask per image id (rows, cols in the "
                        "input frame), and their shape"),
               Artifact("outline_masks", "outlines.npz", "arrays",
                        "the true object outlines (data.outlines) in the input frame, "
                        "packed as in edges.npz", always=False)),
       params=_params, version=3, options=(WORKERS,), estimate=_estimate,
       description="Canny edges of every sampled image in the model-input frame.")
def edges(ctx: StageContext) -> dict[str, Any]:
    """``edges.parquet`` and ``edges.npz`` for every sample."""
    import numpy as np

    from localglobal.io.atomic import write_npz
    from localglobal.io.images import to_input_frame
    from localglobal.probes.edge_masks import EdgePlan, edge_outputs, edge_rows, outline_masks
    from localglobal.probes.sources import source_images

    plan = EdgePlan.from_config(ctx.config)
    samples = ctx.run.read("samples")
    sources = source_images(samples, str(ctx.run.artifact_path("samples")))
    # The first resize imports torchvision; do it before forking so workers share it.
    to_input_frame(np.zeros((2, 2, 3), np.uint8), 2, 2)
    # A new box changes the counts, so it is part of an item's identity.
    rows = ctx.map_shards(edge_rows, sources, key={"plan": plan.key()},
                          item_id=lambda s: s.item_id(with_box=True), params=plan,
                          description="edges")
    table, arrays = edge_outputs(rows, plan.crop)
    empty = table.loc[table["empty"], "image_id"].astype(str).tolist()
    if empty:
        ctx.log(f"edges: {len(empty)} of {len(table)} masks have no edge pixel (the shape "
                "proxy failed there; listed in edges-report.json)", style="yellow")
    ctx.details.update(plan=plan.key(), empty_masks=empty)
    write_npz(ctx.run.artifact_path("edge_masks"), **arrays)
    outlines = ctx.run.artifact_path("outline_masks")
    if ctx.config.data.outlines:
        ids = table["image_id"].astype(str).tolist()
        masks, lacking = outline_masks(ctx.config.data.outlines, ids, plan)
        if lacking:
            ctx.log(f"edges: {len(lacking)} images have no true outline in "
                    f"{ctx.config.data.outlines}", style="yellow")
        ctx.details.update(no_outline=lacking)
        write_npz(outlines, **masks)
    else:
        outlines.unlink(missing_ok=True)
    ctx.run.write("edges", table)
    return {"images": len(sources), "edges": len(table), "empty": len(empty),
            "outlines": bool(ctx.config.data.outlines),
            "empty_in_box": int((table["n_edge_in_box"] == 0).sum())}

