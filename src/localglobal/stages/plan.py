"""``localglobal run CONFIG --dry-run``: what a run would do, before it does anything.

Per stage: the number of items (as the stage's report will count them), the disk it
will write, and its time on this machine estimated from a short calibration (a few
items of the stage timed on the first images of the tree). Counts come from the
domain functions: the image tree (:func:`~localglobal.data.image_tree.scan_images`),
the probe plan (:meth:`~localglobal.probes.plan.ProbePlan.items_per_image`), the
stimuli folder. Nothing is written: calibration works in a temporary folder.

The index count assumes every drawn image is usable; a class short of boxed or
readable images draws fewer.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from localglobal.config import RunConfig
from localglobal.data.image_tree import scan_images
from localglobal.io.images import decode_rgb
from localglobal.labels import get_label_space
from localglobal.probes.edge_masks import EdgePlan
from localglobal.probes.plan import ProbePlan
from localglobal.probes.render import render_sample
from localglobal.probes.sources import SourceImage

CALIBRATION_IMAGES = 2
"""Images timed per stage."""

PREDICTION_ROW_BYTES = 120
"""Bytes of one row of ``predictions.parquet`` (compressed, measured on the demo)."""

ATTRIBUTION_ROW_BYTES = 400
"""Bytes of one row of ``attributions.parquet``."""

BACKWARD_FACTOR = 3.0
"""An LRP pass costs about a forward and two backward passes."""


@dataclass
class StagePlan:
    """One stage's estimate: items, bytes written, seconds on this machine (None: unknown)."""

    stage: str
    items: int | None
    bytes: int | None
    seconds: float | None
    note: str = ""


def _annotation_files(source: str | None) -> int | None:
    """XML files of a folder or an archive (None where they cannot be counted cheaply)."""
    if not source:
        return None
    path = Path(source).expanduser()
    if path.is_dir():
        return sum(1 for _ in path.rglob("*.xml"))
    try:
        with tarfile.open(path) as archive:
            return _xml_members(archive)
    except (OSError, tarfile.TarError):
        return None


def _xml_members(archive: tarfile.TarFile) -> int:
    """XML members of an archive, also inside the per-class archives it holds (ImageNet's)."""
    count = 0
    for member in archive.getmembers():
        name = member.name.lower()
        if not member.isfile():
            continue
        if name.endswith(".xml"):
            count += 1
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(fileobj=archive.extractfile(member)) as inner:
                count += _xml_members(inner)
    return count


def drawn_images(config: RunConfig) -> list[tuple[str, str, str]]:
    """``(image_id, path, wnid)`` of the images the index stage would draw (at most).

    Per class the first ``index.per_class`` images of the tree's order stand in for
    the seeded draw: the count is what matters, and the calibration times them.
    """
    space = get_label_space(config.data.label_space)
    tree = scan_images(config.data.images, config.index.splits, config.index.extensions,
                       space)
    chosen = []
    for _, group in tree.images.groupby("wnid", sort=True):
        take = group if config.index.per_class is None else group.head(config.index.per_class)
        chosen += [(str(r.image_id), str(r.path), str(r.wnid)) for r in take.itertuples()]
    return chosen


def _time_per_image(function, images: list) -> float:
    started = time.perf_counter()
    for image in images:
        function(image)
    return (time.perf_counter() - started) / max(1, len(images))


def _perturb_plan(plan: ProbePlan, images: list[tuple[str, str, str]], n: int
                  ) -> tuple[StagePlan, float]:
    """The perturb stage, calibrated by rendering the first images into a temporary folder."""
    sample = images[:CALIBRATION_IMAGES]
    with tempfile.TemporaryDirectory() as tmp:
        seconds = _time_per_image(lambda im: render_sample(
            plan, SourceImage(im[0], im[1], im[2], 0, "train"), tmp), sample)
        written = sum(p.stat().st_size for p in Path(tmp).rglob("*.png"))
    bytes_per_image = written / max(1, len(sample))
    note = "" if plan.materialize else "probes.materialize = false"
    return StagePlan("perturb", n, int(bytes_per_image * n), seconds * n, note), \
        bytes_per_image


def _forward_seconds(config: RunConfig, name: str, batch: int) -> float | None:
    """Seconds per image of one model's forward pass on random images (None: no model)."""
    import torch

    from localglobal.models import load_model, resolve_model
    from localglobal.models.devices import select_device

    try:
        spec = resolve_model(name, config)
        device = select_device(config.evaluate.device)
        model = load_model(spec, device=device).eval()
    except Exception:  # a model that does not load is the run's to report
        return None
    x = torch.rand(batch, 3, spec.crop, spec.crop, device=device)
    with torch.inference_mode():
        model(x[:1])
        started = time.perf_counter()
        model(x)
    return (time.perf_counter() - started) / batch


def plan_run(config: RunConfig) -> list[StagePlan]:
    """Every stage's estimate for ``config`` (see the module docstring).

    Raises
    ------
    ImageIndexError
        The image root or a split folder does not exist.
    """
    images = drawn_images(config)
    n = len(images)
    plan = ProbePlan.from_config(config)
    side = config.frame.crop
    stages = [StagePlan("annotations", _annotation_files(config.data.annotations), None, None,
                        "boxes of every annotation file")]
    decoded = [decode_rgb(im[1]) for im in images[:CALIBRATION_IMAGES]]
    check = _time_per_image(lambda im: decode_rgb(im[1]), images[:CALIBRATION_IMAGES])
    stages.append(StagePlan("index", n, n * 200, check * n))
    edge_plan = EdgePlan.from_config(config)
    frames = [plan.frame(image) for image in decoded]
    edges = _time_per_image(edge_plan.canny, frames)
    stages.append(StagePlan("edges", n, n * side * side // 8, edges * n))
    perturb, _ = _perturb_plan(plan, images, n)
    stages.append(perturb)
    items = n * plan.items_per_image()
    stages.append(_model_stage(config, "evaluate", list(config.evaluate.models), items,
                               PREDICTION_ROW_BYTES, 1.0, config.evaluate.batch_size))
    stages.extend(_later_stages(config, images, plan))
    return stages


def _model_stage(config: RunConfig, name: str, models: list[str], items: int,
                 row_bytes: int, factor: float, batch: int, extra_bytes: int = 0) -> StagePlan:
    seconds: float | None = 0.0
    for model in models:
        per_image = _forward_seconds(config, model, min(batch, 8))
        seconds = None if per_image is None or seconds is None else \
            seconds + per_image * factor * items
    total = items * len(models)
    return StagePlan(name, total, total * row_bytes + extra_bytes, seconds,
                     "" if seconds is not None else "a model did not load: time unknown")


def _later_stages(config: RunConfig, images: list, plan: ProbePlan) -> list[StagePlan]:
    settings = config.attribute
    side = config.frame.crop
    per_image = _attribute_items_per_image(plan, settings.probes)
    passes = 1 + ("random-weights" in settings.controls)
    items = len(images) * per_image
    maps = items * passes * len(settings.models) * side * side * 2
    attribute = _model_stage(config, "attribute", list(settings.models), items * passes,
                             ATTRIBUTION_ROW_BYTES, BACKWARD_FACTOR, settings.batch_size,
                             extra_bytes=maps)
    out = [attribute]
    if config.geirhos.stimuli:
        from localglobal.data.geirhos import discover_stimuli
        from localglobal.stages.geirhos import model_names

        stimuli = len(discover_stimuli(config.geirhos.stimuli, config.geirhos.datasets).table)
        out.append(_model_stage(config, "geirhos", model_names(config), stimuli,
                                PREDICTION_ROW_BYTES, 1.0, config.geirhos.batch_size))
    out += [StagePlan("analyze", 0, None, None), StagePlan("report", 0, None, None)]
    return out


def _attribute_items_per_image(plan: ProbePlan, probes: list[str]) -> int:
    """The items per image of the probes ``attribute.probes`` names that the plan makes."""
    count = 0
    for name in dict.fromkeys(probes):
        try:
            probe = plan.probe(name)
        except KeyError:
            continue
        count += sum(len(probe.variants(level)) for level in probe.levels())
    return count


def format_plan(stages: list[StagePlan]) -> str:
    """The plan as a table, with totals."""
    lines = [f"{'stage':<12} {'items':>10} {'disk':>10} {'time':>10}  note"]
    for s in stages:
        lines.append(f"{s.stage:<12} {_count(s.items):>10} {_size(s.bytes):>10} "
                     f"{_duration(s.seconds):>10}  {s.note}")
    disk = sum(s.bytes or 0 for s in stages)
    seconds = sum(s.seconds or 0 for s in stages)
    lines.append(f"{'total':<12} {'':>10} {_size(disk):>10} {_duration(seconds):>10}")
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


__all__ = ["StagePlan", "drawn_images", "format_plan", "plan_run"]

