"""The ``geirhos`` stage: models and human observers on model-vs-human's 17 datasets.

``[geirhos]`` names a folder of stimuli (``stimuli``: model-vs-human's datasets as
``localglobal fetch model-vs-human`` writes them, Geirhos et al.'s cue-conflict, edge and
silhouette images, or the toy world's cue-conflict set) and a folder of human trials
(``humans``: model-vs-human's raw data); either may be unset; ``datasets`` picks some
(default: every dataset found). Every model
(``geirhos.models``, default ``evaluate.models``) is loaded once by the kernel's
stateful worker and decides each stimulus: a stimulus at the model's input side is
fed as it is (no resize and crop: Geirhos et al.'s 224 × 224 images reach a 224-pixel
model untouched), another is brought into the model's own frame (shorter side to its
``resize``, centre crop, its interpolation), with the model's own mean and std; the
logits become one of the stimuli's categories through the decision mapping of
(model label space, stimuli label space) (:mod:`localglobal.evaluation.geirhos_decider`).
Every human observer is a decision maker like a model. From all decisions the stage
writes shape bias (per observer and the humans' mean), shape bias per category,
16-class accuracy, the error consistency of every pair of observers, and
model-vs-human's benchmark (:mod:`localglobal.analysis.benchmark`): ``benchmark.parquet``,
one row per (observer, dataset, metric) with a bootstrap interval, and
``benchmark_conditions.parquet``, the per-condition values its curves draw.

With neither folder set the stage has nothing to do: it writes nothing (and removes
what an earlier run wrote) and says so. An unreadable stimulus is a bad item, named
and skipped; a model that cannot be loaded or cannot name the stimuli's categories
is reported while the others run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import ConfigError
from localglobal.labels import get_label_space
from localglobal.models.devices import select_device
from localglobal.models.resolve import model_fingerprints, resolve_model
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.fingerprint import input_fingerprint
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import DEVICE, TRUST, Option, model_list

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext
    from localglobal.pipeline.rundir import RunDir

DECISION_ROW_BYTES = 120
"""Bytes of one row of ``geirhos_decisions.parquet``."""

WRITES = (
    Artifact("geirhos_decisions", "geirhos_decisions.parquet", "table",
             "per (observer, stimulus): the category decided, models and humans alike",
             always=False),
    Artifact("shape_bias", "shape_bias.parquet", "table",
             "shape bias per model, per human observer and of the humans' mean "
             "(conflict stimuli only)", always=False),
    Artifact("shape_bias_by_category", "shape_bias_by_category.parquet", "table",
             "shape bias per observer and shape category", always=False),
    Artifact("accuracy16", "accuracy16.parquet", "table",
             "accuracy per observer and dataset (decision = the shape category)",
             always=False),
    Artifact("error_consistency", "error_consistency.parquet", "table",
             "Cohen's kappa of every pair of observers per dataset", always=False),
    Artifact("benchmark", "benchmark.parquet", "table",
             "model-vs-human's metrics per (observer, dataset, metric): accuracy, accuracy "
             "difference, observed and error consistency, shape bias and hit rate, with "
             "bootstrap intervals; observer humans = the human-human ceiling", always=False),
    Artifact("benchmark_conditions", "benchmark_conditions.parquet", "table",
             "accuracy and consistency per (observer, dataset, condition), for the curves",
             always=False),
)


def model_names(config: RunConfig) -> list[str]:
    """The models of the stage: ``geirhos.models``, else ``evaluate.models``."""
    chosen = config.geirhos.models
    return list(dict.fromkeys(chosen if chosen is not None else config.evaluate.models))


def _params(config: RunConfig) -> dict[str, Any]:
    settings = config.geirhos
    models = model_names(config) if settings.stimuli else []
    return {"geirhos": settings.model_dump(mode="json", exclude={"device", "batch_size"}),
            "stimuli": input_fingerprint(settings.stimuli),
            "humans": input_fingerprint(settings.humans), "seed": config.run.seed,
            "models": model_fingerprints(config, models)}


def _check(config: RunConfig) -> None:
    """Refuse a missing folder, or a model that resolves to nothing, before the run."""
    settings = config.geirhos
    for key in ("stimuli", "humans"):
        value = getattr(settings, key)
        if value and not Path(value).expanduser().is_dir():
            raise ConfigError(f"geirhos.{key}: {value}: no such folder")
    if settings.stimuli:
        for name in model_names(config):
            entry = config.models.get(name)
            if entry is None or not entry.module:  # a module is imported only when trusted
                resolve_model(name, config)


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate | None:
    """Every stimulus through every model (nothing without ``geirhos.stimuli``)."""
    from localglobal.data.geirhos_stimuli import discover_stimuli
    from localglobal.models.timing import seconds_per_item

    settings = config.geirhos
    if not settings.stimuli:
        return None
    stimuli = len(discover_stimuli(settings.stimuli, settings.datasets).table)
    return Estimate.per_model("geirhos", stimuli,
                              seconds_per_item(config, model_names(config), settings.batch_size),
                              DECISION_ROW_BYTES)


def _set_models(config: RunConfig, value: str, given: Mapping[str, Any]) -> RunConfig:
    names = model_list(value)
    if names:
        config.geirhos.models = names
    return config


def _set_folder(key: str) -> Any:
    def apply(config: RunConfig, value: Path, given: Mapping[str, Any]) -> RunConfig:
        setattr(config.geirhos, key, str(value.expanduser().resolve()))
        return config

    return apply


def _set_datasets(config: RunConfig, value: str, given: Mapping[str, Any]) -> RunConfig:
    chosen = model_list(value)
    if not chosen:
        return config
    data = config.geirhos.model_dump()
    data["datasets"] = chosen
    try:
        config.geirhos = type(config.geirhos).model_validate(data)
    except ValueError:
        from localglobal.data.model_vs_human import DATASETS

        raise ConfigError(f"--datasets: {','.join(chosen)}: not model-vs-human datasets; "
                          f"known: {', '.join(DATASETS)}") from None
    return config


OPTIONS = (
    Option("models", ("--models", "-m"), str | None,
           "comma-separated model names [default: geirhos.models, else evaluate.models]",
           metavar="A,B", apply=_set_models),
    Option("stimuli", ("--stimuli",), Path | None,
           "folder of stimuli: model-vs-human's datasets (fetch model-vs-human), "
           "cue-conflict/, edges/, filled-silhouettes/, or the texture-vs-shape layout "
           "[default: geirhos.stimuli]", metavar="DIR", apply=_set_folder("stimuli")),
    Option("humans", ("--humans",), Path | None,
           "folder of model-vs-human raw-data CSVs [default: geirhos.humans]", metavar="DIR",
           apply=_set_folder("humans")),
    Option("datasets", ("--datasets",), str | None,
           "which of model-vs-human's 17 datasets [default: geirhos.datasets, else every "
           "one found]", metavar="A,B", apply=_set_datasets),
    DEVICE,
    TRUST,
)


def _benchmark_lines(run: RunDir) -> Iterator[str]:
    """Each model's benchmark figures, as the command prints them after the stage."""
    from localglobal.report.geirhos_tables import benchmark_lines

    if run.has("benchmark"):
        yield from benchmark_lines(run.read("benchmark"))


def _note_problems(ctx: StageContext, problems: list[str]) -> None:
    for problem in problems:
        item, _, reason = problem.partition(": ")
        ctx.report.bad.append((item, reason or problem))


def _model_decisions(ctx: StageContext, name: str, stimuli: pd.DataFrame, identity: str,
                     device: Any) -> pd.DataFrame:
    from localglobal.evaluation.geirhos_decider import GeirhosDecider
    from localglobal.evaluation.inference import release_classifiers
    from localglobal.evaluation.worker import ClassificationPass, make_worker

    spec = resolve_model(name, ctx.config, trusted=ctx.options.trusted)
    decider = GeirhosDecider(name, stimuli, spec.label_space)
    ids = tuple(f"{d}/{k}/{c}/{i}" for d, k, c, i in
                zip(stimuli["dataset"], stimuli["condition"], stimuli["category"],
                    stimuli["image"], strict=True))
    size = ctx.config.run.shard_size
    rows = list(range(len(ids)))
    # shards come in order here (not so with Ray's actors): decode ahead across them
    shards = None if ctx.executor == "ray" else tuple(
        tuple(rows[i:i + size]) for i in range(0, len(rows), size))
    task = ClassificationPass(
        spec=spec, n_classes=len(get_label_space(spec.label_space)), space=spec.label_space,
        device=device.type if ctx.executor == "ray" else str(device),
        paths=tuple(stimuli["path"]), ids=ids, rows=decider.frame, fit="frame",
        batch_size=ctx.config.geirhos.batch_size, loader_workers=0, shards=shards)
    ctx.details.setdefault("models", {})[name] = {
        "spec": dataclasses.asdict(spec), "mapping": decider.mapping.name}
    try:
        return ctx.map_with_worker(make_worker, task, rows,
                                   key={"model": spec.fingerprint(), "stimuli": identity},
                                   item_id=ids.__getitem__, shard_size=size,
                                   description=f"geirhos {name}")
    finally:
        release_classifiers()


def _decisions(ctx: StageContext) -> pd.DataFrame:
    """Every model's and every human's decisions."""
    import pandas as pd

    from localglobal.data.geirhos_humans import human_experiments, read_human_trials
    from localglobal.data.geirhos_stimuli import DECISION_COLUMNS, discover_stimuli
    from localglobal.evaluation.geirhos_decider import stimuli_identity

    settings = ctx.config.geirhos
    tables: list[pd.DataFrame] = []
    if settings.stimuli:
        loaded = discover_stimuli(settings.stimuli, settings.datasets)
        _note_problems(ctx, loaded.problems)
        stimuli = loaded.table
        device = select_device(ctx.device or settings.device)
        identity = stimuli_identity(stimuli)
        ctx.details.update(stimuli=str(settings.stimuli), stimuli_count=len(stimuli),
                           device=str(device))
        names = model_names(ctx.config)
        if not names:
            raise ConfigError("no models for geirhos: set geirhos.models or evaluate.models, "
                              "or pass --models")
        results = ctx.for_each_model(
            names, lambda name: _model_decisions(ctx, name, stimuli, identity, device))
        tables += [results[n] for n in names if n in results and len(results[n])]
    if settings.humans:
        wanted = settings.datasets
        if wanted is None and settings.stimuli and tables:
            # the humans of the datasets the models saw, where the raw data has them
            present = human_experiments(settings.humans)
            wanted = [d for d in dict.fromkeys(stimuli["dataset"]) if d in present]
        humans = read_human_trials(settings.humans, wanted)
        _note_problems(ctx, humans.problems)
        tables.append(humans.table[DECISION_COLUMNS])
        ctx.details.update(humans=str(settings.humans),
                           observers=int(humans.table["observer"].nunique()))
    nonempty = [t[DECISION_COLUMNS] for t in tables if len(t)]
    return (pd.concat(nonempty, ignore_index=True) if nonempty
            else pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS}))


def _empty(columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _metrics(decisions: pd.DataFrame, seed: int, resamples: int) -> dict[str, pd.DataFrame]:
    from localglobal.analysis.benchmark import (
        BENCHMARK_COLUMNS,
        CONDITION_COLUMNS,
        benchmark_tables,
    )
    from localglobal.analysis.error_consistency import COLUMNS as CONSISTENCY_COLUMNS
    from localglobal.analysis.error_consistency import error_consistency
    from localglobal.analysis.geirhos_metrics import (
        ACCURACY_COLUMNS,
        BY_CATEGORY_COLUMNS,
        SHAPE_BIAS_COLUMNS,
        accuracy16,
        shape_bias_by_category,
        shape_bias_table,
    )

    if not len(decisions):
        return {"shape_bias": _empty(SHAPE_BIAS_COLUMNS),
                "shape_bias_by_category": _empty(BY_CATEGORY_COLUMNS),
                "accuracy16": _empty(ACCURACY_COLUMNS),
                "error_consistency": _empty(CONSISTENCY_COLUMNS),
                "benchmark": _empty(BENCHMARK_COLUMNS),
                "benchmark_conditions": _empty(CONDITION_COLUMNS)}
    benchmark, conditions = benchmark_tables(decisions, n_resamples=resamples, seed=seed)
    return {"shape_bias": shape_bias_table(decisions, seed=seed),
            "shape_bias_by_category": shape_bias_by_category(decisions),
            "accuracy16": accuracy16(decisions, seed=seed),
            "error_consistency": error_consistency(decisions),
            "benchmark": benchmark, "benchmark_conditions": conditions}


@stage("geirhos", writes=WRITES, params=_params, version=2, check=_check, options=OPTIONS,
       estimate=_estimate, starts_run=True, printout=_benchmark_lines,
       description="model-vs-human's benchmark: accuracy, error consistency and shape bias, "
                   "models and humans.")
def geirhos(ctx: StageContext) -> dict[str, Any]:
    """Every observer's decisions on the Geirhos stimuli and the metrics over them."""
    settings = ctx.config.geirhos
    if not settings.stimuli and not settings.humans:
        for artifact in WRITES:
            ctx.run.artifact_path(artifact.name).unlink(missing_ok=True)  # no stale result
        ctx.details["skipped"] = "geirhos.stimuli and geirhos.humans are unset"
        return {"skipped": "nothing configured (geirhos.stimuli, geirhos.humans)"}
    decisions = _decisions(ctx)
    ctx.run.write("geirhos_decisions", decisions)
    tables = _metrics(decisions, ctx.config.run.seed, settings.bootstrap)
    for name, table in tables.items():
        ctx.run.write(name, table)
    return {"decisions": len(decisions), "observers": int(decisions["observer"].nunique()),
            **_headline(tables)}


def _headline(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Each model's and the humans' shape bias, and the humans' mutual kappa per dataset."""
    from localglobal.analysis.geirhos_metrics import HUMANS

    if not len(tables["error_consistency"]) and not len(tables["shape_bias"]):
        return {}
    bias = tables["shape_bias"]
    shown = bias[(bias["kind"] == "model") | (bias["model"] == HUMANS)]
    numbers = {f"shape_bias[{row.model}]": round(float(row.shape_bias), 3)
               for row in shown.itertuples() if row.shape_bias == row.shape_bias}
    benchmark = tables["benchmark"]
    if len(benchmark):
        # model-vs-human's human-human value: per condition, averaged over its conditions
        ceiling = benchmark[(benchmark["observer"] == HUMANS)
                            & (benchmark["metric"] == "error_consistency")]
        for row in ceiling.itertuples():
            if row.value == row.value:
                numbers[f"kappa_humans[{row.dataset}]"] = round(float(row.value), 3)
    return numbers
