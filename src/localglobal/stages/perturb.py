"""The ``perturb`` stage: scrambled, patched and smoothed images of every sample.

Reads ``samples.parquet``; writes lossless PNGs in the model-input frame under
``perturbations/<probe>/<wnid>/`` and one row per probe image in
``perturbations.parquet`` (see :mod:`localglobal.probes.plan` for the probes and their
params). Each source image is one shard, so an interrupted run resumes image by image;
an image that cannot be used is reported and skipped; images smaller than the crop
(enlarged) and images converted to RGB are counted and listed in the report.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.fingerprint import input_fingerprint
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import TRUST, WORKERS
from localglobal.stages.index import CALIBRATION_IMAGES, drawn_images

if TYPE_CHECKING:
    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext

SHOWN_NOTES = 5
"""Enlarged images named on the console; the report lists every one."""


def _smoother_file(config: RunConfig) -> dict[str, Any] | None:
    """What identifies a TorchScript smoother's file (a replaced model redoes the stage)."""
    operator = str(config.probes.section("smooth").get("operator", ""))
    path = Path(operator).expanduser()
    return input_fingerprint(path) if operator and (path.suffix or path.exists()) else None


def _plugin_files(config: RunConfig) -> dict[str, Any]:
    """What identifies each plugin's file (an edited plugin redoes the stage)."""
    files = {}
    for name, entry in sorted(config.probes.plugins.items()):
        path = Path(str(entry.get("function", "")).rpartition(":")[0]).expanduser()
        files[name] = input_fingerprint(path) if path.is_file() else None
    return files


def _params(config: RunConfig) -> dict[str, Any]:
    return {"probes": config.probes.model_dump(mode="json"),
            "frame": config.frame.model_dump(mode="json"), "seed": config.run.seed,
            "smoother": _smoother_file(config),
            **({"plugins": _plugin_files(config)} if config.probes.plugins else {})}


def check_probes(config: RunConfig) -> None:
    """Refuse probe settings that would fail (a bad TorchScript smoother) before any stage.

    The pipeline asks this only once the command trusts its configuration
    (:func:`localglobal.run.run_pipeline` refuses untrusted code first).

    Raises
    ------
    ConfigError
        As :meth:`ProbePlan.from_config`.
    """
    from localglobal.probes.plan import ProbePlan

    ProbePlan.from_config(config)


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    """The first images rendered into a temporary folder, timed and measured."""
    from localglobal.probes.materialize import render_sample
    from localglobal.probes.plan import ProbePlan
    from localglobal.probes.sources import SourceImage

    plan = ProbePlan.from_config(config)
    images = drawn_images(config)
    sample = images[:CALIBRATION_IMAGES]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for image_id, path, wnid in sample:
            render_sample(plan, SourceImage(image_id, path, wnid, 0, "train"), tmp)
        seconds = (time.perf_counter() - started) / max(1, len(sample))
        written = sum(p.stat().st_size for p in Path(tmp).rglob("*.png"))
    n = len(images)
    note = "" if plan.materialize else "probes.materialize = false"
    return Estimate("perturb", n, int(written / max(1, len(sample)) * n), seconds * n, note)


@stage("perturb",
       reads=("samples",),
       writes=(Artifact("perturbations", "perturbations.parquet", "table",
                        "one row per probe image: item_id, image_id, wnid, probe, level, "
                        "variant, params (JSON), path"),
               Artifact("perturbation_images", "perturbations", "folder",
                        "the probe images, lossless PNG in the model-input frame, under "
                        "<probe>/<wnid>/ (probes.materialize = false: originals and "
                        "smoothings only)")),
       params=_params, version=2, check=check_probes, options=(WORKERS, TRUST),
       estimate=_estimate,
       description="Scrambled, patched and smoothed images (lossless PNG) and their table.")
def perturb(ctx: StageContext) -> dict[str, Any]:
    """Probe images and ``perturbations.parquet`` for every sample."""
    import numpy as np

    from localglobal.io.images import to_input_frame
    from localglobal.probes.materialize import RenderJob, perturbation_table, render_samples
    from localglobal.probes.plan import ProbePlan
    from localglobal.probes.sources import input_notes, source_images

    plan = ProbePlan.from_config(ctx.config, trusted=ctx.options.trusted)
    samples = ctx.run.read("samples")
    sources = source_images(samples, str(ctx.run.artifact_path("samples")))
    # The first resize imports torchvision; do it before forking so workers share it.
    to_input_frame(np.zeros((2, 2, 3), np.uint8), 2, 2)
    # One image per shard: the unit of resume is the image (some 200 PNGs).
    rows = ctx.map_shards(render_samples, sources, key={"plan": plan.key()},
                          item_id=lambda s: s.item_id(),
                          params=RenderJob(plan, str(ctx.run.root)), shard_size=1,
                          description="perturb")
    table = perturbation_table(rows)
    ctx.run.artifact_path("perturbation_images").mkdir(parents=True, exist_ok=True)

    crop = ctx.config.frame.crop
    small, converted = input_notes(samples, crop)
    for note in small[:SHOWN_NOTES]:
        ctx.log(f"perturb: {note['image_id']} is {note['width']}×{note['height']} pixels, "
                f"smaller than the {crop}-pixel crop: enlarged", style="yellow")
    if len(small) > SHOWN_NOTES:
        ctx.log(f"perturb: … and {len(small) - SHOWN_NOTES} more images smaller than the "
                "crop, listed in perturb-report.json", style="yellow")
    ctx.details.update(plan=plan.key(), smaller_than_crop_images=small,
                       converted_to_rgb_images=converted)
    ctx.run.write("perturbations", table)
    by_probe = {str(k): int(v) for k, v in table["probe"].value_counts(sort=False).items()}
    return {"images": len(sources), "probe_images": len(table), "by_probe": by_probe,
            "smaller_than_crop": len(small), "converted_to_rgb": len(converted)}
