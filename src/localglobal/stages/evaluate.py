"""The ``evaluate`` stage: every configured model on every perturbed image.

Each model is loaded once (and not at all when all its shards are finished), by the
kernel's stateful worker (:mod:`localglobal.evaluation.worker`: in this process, or
in one Ray actor per GPU), and classifies the images of ``perturbations.parquet``
shard by shard (:mod:`~localglobal.evaluation.loader`,
:mod:`~localglobal.evaluation.inference`);
:mod:`~localglobal.evaluation.scoring` turns the logits into the rows of
``predictions.parquet``. Shards are keyed by the model's spec fingerprint and the
perturbation table's content (its rows and its images' sizes and times), so adding a
model computes only that model. A model that cannot be resolved or loaded, or whose
label space lacks the images' classes, is reported while the others run; the stage
then exits non-zero. An unreadable image is a bad item: reported and skipped.
Cue-conflict stimuli are judged by the ``geirhos`` stage.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from localglobal.errors import ConfigError
from localglobal.labels import LabelSpace, get_label_space
from localglobal.models.devices import select_device
from localglobal.models.resolve import model_fingerprints, resolve_model
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import DEVICE, TRUST, model_options

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.config import RunConfig
    from localglobal.evaluation.worker import ClassificationPass
    from localglobal.models.spec import ModelSpec
    from localglobal.pipeline.context import StageContext

PREDICTION_ROW_BYTES = 120
"""Bytes of one row of ``predictions.parquet`` (compressed, measured on the demo)."""


def _params(config: RunConfig) -> dict[str, Any]:
    return {"evaluate": config.evaluate.model_dump(mode="json"),
            "label_space": config.data.label_space,
            "models": model_fingerprints(config, list(config.evaluate.models))}


def _check(config: RunConfig) -> None:
    """Refuse a model name that resolves to nothing before the pipeline starts."""
    for name in config.evaluate.models:
        entry = config.models.get(name)
        if entry is None or not entry.module:  # a module is imported only when trusted
            resolve_model(name, config)


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    """Every probe item of every drawn image through every model, timed on random images."""
    from localglobal.models.timing import seconds_per_item
    from localglobal.probes.plan import ProbePlan

    images = earlier["index"].items or 0
    items = images * ProbePlan.from_config(config).items_per_image()
    models = list(config.evaluate.models)
    return Estimate.per_model(
        "evaluate", items, seconds_per_item(config, models, config.evaluate.batch_size),
        PREDICTION_ROW_BYTES)


@dataclasses.dataclass
class _Inputs:
    """What every model of one run of the stage shares."""

    items: pd.DataFrame
    paths: tuple[str, ...]
    identity: str
    dataset_space: LabelSpace
    device: Any
    loader_workers: int
    builds: dict[int, tuple[str, str]] | None = None


def _inputs(ctx: StageContext) -> _Inputs:
    from localglobal.evaluation.loader import loader_worker_count
    from localglobal.evaluation.perturbation_items import (
        bad_built_rows,
        built_rows,
        check_items,
        items_identity,
    )

    items = ctx.run.read("perturbations").reset_index(drop=True)
    dataset_space = get_label_space(ctx.config.data.label_space)
    check_items(items, ctx.run.artifact_path("perturbations"), dataset_space)
    # A row built on the fly whose params do not fit its probe is a bad item; the rest go on.
    bad = bad_built_rows(items, ctx.config.frame.crop)
    for row, reason in bad.items():
        ctx.bad_item(str(items["item_id"].iat[row]), reason)
    items = items.drop(index=list(bad)).reset_index(drop=True)
    settings = ctx.config.evaluate
    device = select_device(ctx.device or settings.device)
    if settings.bf16 and device.type != "cuda":
        ctx.log(f"evaluate: bf16 autocast applies on CUDA only; running float32 on {device}",
                style="yellow")
    paths = tuple(str(ctx.run.path(p)) for p in items["path"])
    workers = loader_worker_count(settings.loader_workers, device)
    ctx.details.update(device=str(device), label_space=dataset_space.name, items=len(items),
                       loader_workers=workers)
    return _Inputs(items, paths, items_identity(items, paths), dataset_space, device, workers,
                   built_rows(items))


def _classify(ctx: StageContext, task: ClassificationPass, key: dict[str, Any],
              label: str) -> pd.DataFrame:
    """Every image's rows, shard by shard, resuming finished shards."""
    from localglobal.evaluation.worker import make_worker

    size = ctx.config.run.shard_size
    rows = list(range(len(task.ids)))
    if ctx.executor != "ray":  # shards come in order here: decode across them
        task = dataclasses.replace(task, shards=tuple(
            tuple(rows[i:i + size]) for i in range(0, len(rows), size)))
    return ctx.map_with_worker(make_worker, task, rows,
                               key={**key, "bf16": task.bf16},
                               item_id=task.ids.__getitem__, shard_size=size,
                               description=label)


def _task(ctx: StageContext, inputs: _Inputs, spec: ModelSpec, model_space: LabelSpace,
          **fields: Any) -> ClassificationPass:
    from localglobal.evaluation.worker import ClassificationPass

    settings = ctx.config.evaluate
    device = inputs.device.type if ctx.executor == "ray" else str(inputs.device)
    return ClassificationPass(
        spec=spec, n_classes=len(model_space), space=model_space.name, device=device,
        batch_size=settings.batch_size, loader_workers=inputs.loader_workers,
        channels_last=settings.channels_last,
        bf16=bool(settings.bf16 and inputs.device.type == "cuda"), **fields)


def _evaluate_model(ctx: StageContext, name: str, inputs: _Inputs) -> pd.DataFrame:
    from localglobal.evaluation.inference import release_classifiers
    from localglobal.evaluation.scoring import Scorer, check_label_space

    started, resumed = time.perf_counter(), ctx.report.resumed
    spec = resolve_model(name, ctx.config, trusted=ctx.options.trusted)
    model_space = get_label_space(spec.label_space)
    check_label_space(name, model_space, inputs.items["wnid"].tolist(), inputs.dataset_space)
    record: dict[str, Any] = {"spec": dataclasses.asdict(spec)}
    ctx.details.setdefault("models", {})[name] = record
    scorer = Scorer(name, inputs.items, model_space, inputs.dataset_space)
    task = _task(ctx, inputs, spec, model_space, paths=inputs.paths,
                 ids=tuple(inputs.items["item_id"].astype(str)), rows=scorer.frame,
                 builds=inputs.builds, frame_crop=ctx.config.frame.crop)
    try:
        table = _classify(ctx, task, {"model": spec.fingerprint(),
                                      "perturbations": inputs.identity,
                                      "dataset_classes": list(inputs.dataset_space.wnids)},
                          f"evaluate {name}")
    finally:
        release_classifiers()
    total = len(inputs.items)
    seconds = time.perf_counter() - started
    computed = total - (ctx.report.resumed - resumed)
    record.update(seconds=round(seconds, 3), computed=computed, resumed=total - computed,
                  images_per_second=round(computed / seconds, 2) if computed else None)
    non_finite = int((~table["finite"].astype(bool)).sum()) if "finite" in table else 0
    record["non_finite"] = non_finite
    if non_finite:
        ctx.log(f"evaluate: model {name} gave NaN or infinite outputs for {non_finite} of "
                f"{len(table)} items; those rows are flagged (finite = false), never counted "
                "correct, and left out of the accuracy tables and hypotheses", style="yellow")
    return table


@stage("evaluate",
       reads=("perturbations",),
       writes=(Artifact("predictions", "predictions.parquet", "table",
                        "per (model, item): true and predicted class, logit, probability, "
                        "rank, top-5; the same within the dataset's classes"),),
       params=_params, version=4, check=_check,
       options=(*model_options("evaluate"), DEVICE, TRUST), estimate=_estimate,
       description="Run every configured model on every perturbed image.")
def evaluate(ctx: StageContext) -> dict[str, Any]:
    """``predictions.parquet`` for every model."""
    import pandas as pd

    from localglobal.evaluation.scoring import empty_predictions

    names = list(dict.fromkeys(ctx.options.extra.get("models") or ctx.config.evaluate.models))
    if not names:
        raise ConfigError("no models to evaluate: set evaluate.models or pass --models")
    inputs = _inputs(ctx)
    results = ctx.for_each_model(names, lambda name: _evaluate_model(ctx, name, inputs))
    tables = [results[n] for n in names if n in results and len(results[n])]
    predictions = pd.concat(tables, ignore_index=True) if tables else empty_predictions()
    ctx.run.write("predictions", predictions)
    summary: dict[str, Any] = {"models": [n for n in names if n in results],
                               "predictions": len(predictions), "device": str(inputs.device)}
    non_finite = {n: int(ctx.details["models"][n]["non_finite"]) for n in results
                  if ctx.details["models"][n].get("non_finite")}
    if non_finite:
        summary["non_finite"] = non_finite
    return summary
