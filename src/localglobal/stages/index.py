"""The ``index`` stage: find the images, attach their boxes, draw the sample.

Images are found under ``data.images`` (``<root>/<split>/<wnid>/<image>``); boxes come
from ``boxes.parquet`` when the run has one. It is an optional input: with
``index.require_box = false`` the stage works without any annotations (the box
columns are then NaN). The drawn images are opened on shards (see
:mod:`localglobal.data.sampling`); one that cannot be used is a bad item, reported by
its path and replaced by its class's next candidate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import ConfigError, MissingInputError, StageError
from localglobal.io.atomic import atomic_path
from localglobal.labels import get_label_space
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.fingerprint import input_fingerprint
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import WORKERS, Option

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext

CHECK_VERSION = 1
"""Bump when :func:`~localglobal.data.image_tree.check_image` decides differently."""

SHOWN = 10

CALIBRATION_IMAGES = 2
"""Images decoded to time the stage for ``--dry-run``."""


def _params(config: RunConfig) -> dict[str, Any]:
    return {"images": input_fingerprint(config.data.images),
            "label_space": config.data.label_space,
            "frame": config.frame.model_dump(mode="json"),
            "index": config.index.model_dump(mode="json"), "seed": config.run.seed}


def check_config(config: RunConfig) -> None:
    """Refuse a configuration without an image root before any stage runs."""
    if not config.data.images:
        raise ConfigError("data.images is not set: index needs the image root "
                          "(<root>/<split>/<wnid>/<image>); run `localglobal index ROOT --run "
                          "DIR`, or set data.images in the configuration")


def check_pipeline(config: RunConfig) -> None:
    """Before a whole run: an image root, and an annotation source when boxes are required."""
    check_config(config)
    if config.index.require_box and not config.data.annotations:
        raise ConfigError("data.annotations is not set but index.require_box = true: set "
                          "data.annotations to Annotation.tar.gz or a folder of VOC XML files, "
                          "or set index.require_box = false to use images without boxes")



def _read_boxes(ctx: StageContext) -> pd.DataFrame | None:
    """The run's boxes, or None; without them a required box is a message naming the fix."""
    from localglobal.data.frame_boxes import BOX_READ_COLUMNS

    boxes = ctx.run.read("boxes", columns=BOX_READ_COLUMNS) if ctx.run.has("boxes") else None
    if ctx.config.index.require_box and (boxes is None or not len(boxes)):
        raise MissingInputError(missing_boxes_message(ctx.config, ctx.run.root, boxes is None))
    return boxes


def missing_boxes_message(config: RunConfig, run_root: Any, no_table: bool) -> str:
    """Why ``index`` has no box to require, and the commands that fix it, for this run.

    Parameters
    ----------
    config : RunConfig
        The run's configuration (its ``data.annotations`` decides which fix applies).
    run_root : path-like
        The run directory, named in the commands.
    no_table : bool
        True when the run has no ``boxes.parquet``; False when it is empty.
    """
    source = config.data.annotations
    images = config.data.images or "ROOT"
    state = "has no boxes.parquet" if no_table else "has an empty boxes.parquet"
    without = (f"or draw images without boxes (box-based measures are then NaN): "
               f"`localglobal index {images} --run {run_root} --no-require-box`, or "
               f"require_box = false under [index] in {run_root}/config.toml")
    if not source:
        return (f"index.require_box = true but the run {state} and data.annotations is not "
                f"set: read boxes with `localglobal annotations SOURCE --run {run_root}` "
                "(SOURCE: Annotation.tar.gz or a folder of VOC XML files; it is kept as "
                f"data.annotations), {without}")
    if no_table:
        return (f"index.require_box = true but the run {state}: read the boxes of "
                f"data.annotations with `localglobal annotations {source} --run {run_root}`, "
                f"{without}")
    return (f"index.require_box = true but data.annotations ({source}) gave no box "
            f"({run_root}/annotations-report.json says what was skipped): point it at the "
            f"annotations of these images with `localglobal annotations SOURCE --run "
            f"{run_root}`, {without}")


def drawn_images(config: RunConfig) -> list[tuple[str, str, str]]:
    """``(image_id, path, wnid)`` of the images the stage would draw (at most), for estimates.

    Per class the first ``index.per_class`` images of the tree's order stand in for
    the seeded draw: the count is what matters, and the calibration times them.
    """
    from localglobal.data.image_tree import first_per_class

    return first_per_class(config.data.images, config.index.splits,
                           config.index.extensions, get_label_space(config.data.label_space),
                           config.index.per_class)


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    """Every drawn image decoded once (assuming every one is usable)."""
    from localglobal.io.images import decode_rgb

    images = drawn_images(config)
    started = time.perf_counter()
    for image in images[:CALIBRATION_IMAGES]:
        decode_rgb(image[1])
    per_image = (time.perf_counter() - started) / max(1, min(len(images), CALIBRATION_IMAGES))
    return Estimate("index", len(images), len(images) * 200, per_image * len(images))


def own_data_start() -> RunConfig:
    """What a run started by ``annotations`` or ``index`` holds: no models until they are
    named (``--models``, or the thesis's with ``localglobal run configs/thesis.toml``)."""
    from localglobal.config import own_data_config

    return own_data_config()


def _set_root(config: RunConfig, root: Path, given: Mapping[str, Any]) -> RunConfig:
    config.data.images = str(root.expanduser().resolve())
    return config


def _set_label_space(config: RunConfig, value: str, given: Mapping[str, Any]) -> RunConfig:
    if value:
        config.data.label_space = value
    return config


def _set_require_box(config: RunConfig, value: bool, given: Mapping[str, Any]) -> RunConfig:
    config.index.require_box = value
    return config


OPTIONS = (
    Option("root", (), Path, "image root with <split>/<wnid>/<image> folders", metavar="ROOT",
           apply=_set_root),
    WORKERS,
    Option("label_space", ("--label-space",), str | None,
           "imagenette, imagewoof, imagenet-1k, toyworld, geirhos-16 or a label file "
           "[default: the configuration's data.label_space]", metavar="NAME",
           apply=_set_label_space),
    Option("require_box", ("--require-box/--no-require-box",), bool | None,
           "draw only images with an object box; --no-require-box needs no annotations "
           "(box-based measures are then NaN) [default: the configuration's "
           "index.require_box, true]", apply=_set_require_box),
)


@stage("index", optional_reads=("boxes",),
       writes=(Artifact("samples", "samples.parquet", "table",
                        "the drawn images: path, class, size, the boxes in the model-input "
                        "frame and their union"),),
       params=_params, version=2, check=check_pipeline, options=OPTIONS,
       estimate=_estimate, starts_run=True, start_config=own_data_start,
       description="Scan images, map their boxes into the model-input frame, draw the "
                   "sample.")
def index(ctx: StageContext) -> dict[str, Any]:
    """Write ``samples.parquet`` for ``data.images``; the report says what was drawn."""
    import pyarrow.parquet as pq

    from localglobal.data.image_tree import check_images, image_ref
    from localglobal.data.sampling import SampleOptions, build_index

    config = ctx.config
    check_config(config)
    space = get_label_space(config.data.label_space)
    boxes = _read_boxes(ctx)

    def check(paths: list[str]) -> dict[str, dict[str, Any]]:
        refs = [image_ref(path) for path in paths]
        table = ctx.map_shards(check_images, refs, key={"check": CHECK_VERSION},
                               item_id=lambda ref: ref.key, description="index: decoding")
        return {r["path"]: r for r in table.to_dict("records")}

    try:
        options = SampleOptions(
            splits=config.index.splits, extensions=config.index.extensions,
            per_class=config.index.per_class, require_box=config.index.require_box,
            seed=config.run.seed, resize=config.frame.resize, crop=config.frame.crop)
        result = build_index(config.data.images, boxes, space, options, check)
    except MissingInputError as error:  # nothing to index: the stage fails, naming why
        raise StageError(f"index: {error}") from None
    report = result.report
    _log(ctx, report, space.name)
    ctx.details.update(report)
    with atomic_path(ctx.run.artifact_path("samples")) as tmp:
        pq.write_table(result.samples, tmp)
    return {"images_found": report["images_found"],
            "images_with_box": report["images_with_box"], "sampled": report["sampled"],
            "problems": report["n_problems"], "classes": len(report["classes"])}


def _log(ctx: StageContext, report: dict[str, Any], space: str) -> None:
    boxes_problems = [p for p in report["problems"] if p["reason"].startswith("box unusable")]
    for problem in boxes_problems[:SHOWN]:
        ctx.log(f"index: {problem['path']}: {problem['reason']}", style="yellow")
    if len(boxes_problems) > SHOWN:
        ctx.log(f"index: … and {len(boxes_problems) - SHOWN} more, listed in "
                f"{ctx.stage.report_name}", style="yellow")
    if report["classes_missing"]:
        ctx.log(f"index: no folder for {len(report['classes_missing'])} classes of {space!r}: "
                f"{', '.join(report['classes_missing'])}", style="yellow")
    short = {w: c["shortfall"] for w, c in report["classes"].items() if "shortfall" in c}
    if short:
        ctx.log(f"index: classes with fewer than {ctx.config.index.per_class} images: "
                f"{short}", style="yellow")
