"""The ``analyze`` stage: hypothesis tests, patch interaction, shape bias and figures.

Reads ``predictions.parquet`` (required) and, when present, ``attributions.parquet``,
``cue_conflict_predictions.parquet``, ``samples.parquet``, ``edges.npz``,
``relevance/<model>.npy`` and ``heatmaps/``. Writes into the run directory:

==============================  ====================================================
``hypotheses.parquet``          one row per configured hypothesis (the contract)
``hypothesis-pairs.parquet``    every paired value behind those tests
``interaction.parquet``         patch interaction per (model, patch side)
``interaction-images.parquet``  single drop sum S and all drop A per image
``probe-summary.parquet``       mean true-class probability per model and level
``lrp-summary.parquet``         LRP region statistics per model and control
``shape_bias.parquet``          shape bias per model (with cue-conflict predictions)
``figures/<name>.png|.pdf``     every figure; ``figures/contact/`` probe contact sheets
``analysis-report.json``        which sections and figures were made, which were
                                skipped and why
==============================  ====================================================

A figure whose input is absent is skipped with the reason; nothing downstream of a
missing optional input crashes the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from localglobal.analysis import figures as fig
from localglobal.analysis.hypotheses import evaluate_hypotheses, validate_hypotheses
from localglobal.analysis.interaction import IMAGE_COLUMNS, SUMMARY_COLUMNS, patch_interaction
from localglobal.analysis.shape_bias import shape_bias
from localglobal.analysis.summaries import lrp_summary, probe_summary
from localglobal.executor import progress_bar
from localglobal.store import RunDir, read_png, safe_name, write_json, write_table

if TYPE_CHECKING:
    from localglobal.run import StageContext

REPORT_NAME = "analysis-report.json"
CUE_CONFLICT_NAME = "cue_conflict_predictions.parquet"
PAIRS_NAME = "hypothesis-pairs.parquet"
INTERACTION_IMAGES_NAME = "interaction-images.parquet"
PROBE_SUMMARY_NAME = "probe-summary.parquet"
LRP_SUMMARY_NAME = "lrp-summary.parquet"
_ID_COLUMNS = ("image_id", "probe", "level", "variant")


# --------------------------------------------------------------------------- inputs


def clean_predictions(predictions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Normalise a predictions table for analysis; return it and notes on what changed.

    Missing ``image_id/probe/level/variant`` columns are recovered from ``item_id``
    (``image_id/probe/level/variant``); ``level`` becomes int64 and ``variant`` str;
    repeated (model, item_id) rows keep the last and are counted in the notes.

    Raises
    ------
    ValueError
        When ``model`` or ``item_id`` is missing, or the item ids cannot be parsed.
    """
    notes: list[str] = []
    for column in ("model", "item_id"):
        if column not in predictions:
            raise ValueError(f"predictions.parquet has no {column!r} column; "
                             f"columns: {list(predictions.columns)}")
    table = predictions.copy()
    missing = [c for c in _ID_COLUMNS if c not in table]
    if missing:
        parts = table["item_id"].astype(str).str.rsplit("/", n=3, expand=True)
        if parts.shape[1] != 4 or parts.isna().any().any():
            raise ValueError("predictions.parquet lacks columns "
                             f"{missing} and its item_id values are not image/probe/level/variant")
        for k, column in enumerate(_ID_COLUMNS):
            if column in missing:
                table[column] = parts[k]
        notes.append(f"columns {missing} recovered from item_id")
    table["model"] = table["model"].astype(str)
    table["image_id"] = table["image_id"].astype(str)
    table["probe"] = table["probe"].astype(str)
    table["level"] = pd.to_numeric(table["level"]).astype("int64")
    table["variant"] = table["variant"].astype(str)
    duplicated = table.duplicated(["model", "item_id"], keep="last")
    if duplicated.any():
        notes.append(f"{int(duplicated.sum())} repeated (model, item_id) rows: kept the last")
        table = table[~duplicated]
    return table.reset_index(drop=True), notes


def _edge_masks_from_npz(path: Path, crop: int) -> Iterator[np.ndarray]:
    """Boolean edge masks from ``edges.npz`` in any of its plausible layouts.

    Handles per-image arrays (boolean H×W, or bit-packed with :func:`numpy.packbits`,
    flat or row-wise) and stacked N×… arrays; ``shape`` gives H×W when present.
    """
    with np.load(path, allow_pickle=False) as data:
        shape = tuple(int(v) for v in data["shape"][-2:]) if "shape" in data.files \
            else (crop, crop)
        h, w = shape
        for key in data.files:
            if key in {"shape", "image_ids", "image_id", "ids", "keys"}:
                continue
            array = data[key]
            if array.dtype == bool:
                stack = array.reshape(-1, h, w) if array.size % (h * w) == 0 else None
                if stack is not None:
                    yield from stack
                continue
            if array.dtype != np.uint8:
                continue
            row_bytes, flat_bytes = -(-w // 8), -(-(h * w) // 8)
            if array.ndim == 1 and array.size == flat_bytes:
                yield np.unpackbits(array, count=h * w).reshape(h, w).astype(bool)
            elif array.ndim == 2 and array.shape == (h, row_bytes):
                yield np.unpackbits(array, axis=1, count=w).astype(bool)
            elif array.ndim == 2 and array.shape[1] == flat_bytes:
                for row in array:
                    yield np.unpackbits(row, count=h * w).reshape(h, w).astype(bool)
            elif array.ndim == 3 and array.shape[1:] == (h, row_bytes):
                yield from np.unpackbits(array, axis=2, count=w).astype(bool)
            elif array.ndim == 2 and array.shape == (h, w):
                yield array.astype(bool)


def edge_masks(run: RunDir, crop: int) -> Iterator[np.ndarray]:
    """Every image's boolean edge mask (H×W, model-input frame) from ``edges.npz``."""
    try:
        from localglobal.probes.generate import load_edge_masks
    except ImportError:
        load_edge_masks = None
    if load_edge_masks is None:
        yield from _edge_masks_from_npz(run.path("edges.npz"), crop)
        return
    masks = load_edge_masks(run)
    if isinstance(masks, Mapping):
        masks = masks.values()
    elif isinstance(masks, tuple) and len(masks) == 2 and not isinstance(masks[1], str):
        masks = masks[1]
    for mask in masks:
        yield np.asarray(mask, dtype=bool)


def edge_density(run: RunDir, crop: int) -> np.ndarray | None:
    """Share of images with an edge at each pixel (H×W), or None without edges."""
    if not run.path("edges.npz").exists():
        return None
    total, count = None, 0
    for mask in edge_masks(run, crop):
        total = mask.astype(np.float64) if total is None else total + mask
        count += 1
    return None if total is None else total / count


def box_density(samples: pd.DataFrame, crop: int) -> np.ndarray | None:
    """Share of images whose (union) object box covers each pixel (crop × crop)."""
    from localglobal.data.geometry import box_mask

    columns = ["box_x0", "box_y0", "box_x1", "box_y1"]
    if samples is None or samples.empty or any(c not in samples for c in columns):
        return None
    total = np.zeros((crop, crop))
    for box in samples[columns].to_numpy(dtype=float):
        total += box_mask(tuple(box), crop)
    return total / len(samples)


def _non_finite_images(attributions: pd.DataFrame | None, control: str
                       ) -> dict[str, set[str]]:
    """Per model (keyed like its relevance file), the image ids whose map held NaN or inf."""
    if attributions is None or "finite" not in attributions:
        return {}
    finite = attributions["finite"].astype("boolean").fillna(True).astype(bool)
    bad = attributions[~finite & (attributions["control"] == control)]
    if "probe" in bad:
        bad = bad[bad["probe"] == "original"]
    return {safe_name(str(m)): set(g["image_id"].astype(str)) for m, g in bad.groupby("model")}


def relevance_densities(run: RunDir, control: str = "none",
                        attributions: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Per model: share of images whose positive LRP region covers each pixel.

    Maps that ``attributions`` (the run's ``attributions.parquet``) marks as holding
    NaN or infinity, stored as zeros, are left out of the share, as they are left out
    of every statistic.
    """
    densities = {}
    non_finite = _non_finite_images(attributions, control)
    for path in sorted(run.path("relevance").glob("*.npy")):
        model = path.stem
        index_path = path.with_name(f"{model}.index.parquet")
        maps = np.load(path, mmap_mode="r")
        if index_path.exists():
            index = pd.read_parquet(index_path)
            if "control" in index:
                index = index[index["control"] == control]
            if "probe" in index:  # maps of perturbed images are not where objects lie
                index = index[index["probe"] == "original"]
            index = index[~index["image_id"].astype(str).isin(non_finite.get(model, set()))]
            rows = np.sort(index["row"].to_numpy(dtype=np.int64))
        else:
            rows = np.arange(maps.shape[0])
        if rows.size:
            densities[model] = fig.positive_region_density(maps, rows=rows)
    return densities


def heatmap_images(run: RunDir, limit: int) -> tuple[dict[tuple[str, str], np.ndarray],
                                                     list[str], list[str]]:
    """Heat-map overlays ``heatmaps/<model>/<image_id>.png`` for up to ``limit`` images.

    The images shown are spread evenly over the sorted ids that every model has;
    overlays of perturbed images (``<image_id>__<probe>_….png``) are left out.
    """
    root = run.path("heatmaps")
    if limit <= 0 or not root.is_dir():
        return {}, [], []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*.png")))
    models = [p.name for p in folders]
    stems = [{f.stem for f in p.glob("*.png") if "__" not in f.stem} for p in folders]
    common = sorted(set.intersection(*stems)) if stems else []
    if not common:
        return {}, [], models
    chosen = [common[int(i)] for i in np.unique(np.linspace(0, len(common) - 1, limit).round())]
    images = {(image_id, model): read_png(root / model / f"{image_id}.png")
              for image_id in chosen for model in models}
    return images, chosen, models


# --------------------------------------------------------------------------- figures


@dataclass
class FigureSpec:
    """A figure to make: where it goes in the report and how to build it."""

    name: str
    section: str
    title: str
    caption: str
    build: Callable[[], Any]


@dataclass
class AnalysisRecord:
    """What ``analysis-report.json`` records."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    figures_skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, name: str, status: str, reason: str = "", **extra: Any) -> None:
        self.sections[name] = {"status": status, "reason": reason, **extra}

    def as_dict(self) -> dict[str, Any]:
        return {"sections": self.sections, "figures": self.figures,
                "figures_skipped": self.figures_skipped, "notes": self.notes}


def _figure_specs(tables: dict[str, Any], crop: int, run: RunDir, gallery: int,
                  interaction_measure: str = "true_logit") -> list[FigureSpec]:
    summary = tables.get("probe_summary")
    interaction = tables.get("interaction")
    images = tables.get("interaction_images")
    hypotheses = tables.get("hypotheses")
    pairs = tables.get("pairs")
    lrp = tables.get("lrp_summary")
    bias = tables.get("shape_bias")
    samples = tables.get("samples")
    attributions = tables.get("attributions")
    interval = "shaded: 95 % t-interval over images"

    def densities() -> Any:
        panels: dict[str, np.ndarray] = {}
        for model, density in relevance_densities(run, attributions=attributions).items():
            panels[f"{model}: positive relevance"] = density
        edges = edge_density(run, crop)
        if edges is not None:
            panels["edges (Canny)"] = edges
        boxes = box_density(samples, crop)
        if boxes is not None:
            panels["object boxes"] = boxes
        return fig.density_figure(panels)

    def gallery_figure() -> Any:
        found, ids, models = heatmap_images(run, gallery)
        return fig.heatmap_gallery_figure(found, ids, models)

    return [
        FigureSpec("scramble", "scramble", "Scrambling",
                   "Mean true-class probability against block side; each image is first "
                   "averaged over its permutations. The original image is the largest side "
                   f"({crop} px); {interval}.",
                   lambda: fig.scramble_figure(summary, crop)),
        FigureSpec("patch", "patch", "Patches",
                   "Mean true-class probability against patch side, for the image with every "
                   f"patch and for the mean over single patches; 0 is the original; {interval}.",
                   lambda: fig.patch_figure(summary)),
        FigureSpec("interaction-r", "patch", "Patch interaction by patch side",
                   "Left: Pearson correlation over images of S (sum of single-patch drops) and "
                   "A (all-patches drop); right: mean(A)/mean(S). Whiskers: 95 % bootstrap "
                   "intervals over images.",
                   lambda: fig.interaction_r_figure(interaction)),
        FigureSpec("interaction-scatter", "patch", "Single against all-patches drops",
                   f"Drops of {interaction_measure}, one point per image; lines: least "
                   "squares per model; dashed: A = S.",
                   lambda: fig.interaction_scatter_figure(images)),
        FigureSpec("smooth", "smooth", "Smoothing",
                   "Mean true-class probability against the number of smoothing passes; 0 is "
                   f"the original; {interval}.",
                   lambda: fig.smooth_figure(summary)),
        FigureSpec("removed-detail", "removed_detail", "Removed detail",
                   "Mean true-class probability on the detail one smoothing pass removes "
                   "(|original − smoothed|) and on its inversion, beside the original; "
                   "whiskers: 95 % t-interval over images.",
                   lambda: fig.removed_detail_figure(summary)),
        FigureSpec("shape-bias", "shape_bias", "Shape bias",
                   "Share of shape decisions among shape and texture decisions on cue-conflict "
                   "stimuli (Geirhos et al. 2019); whiskers: 95 % Wilson interval.",
                   lambda: fig.shape_bias_figure(bias)),
        FigureSpec("lrp-regions", "lrp", "LRP regions and edges",
                   "Size of the positive (R > mean of R > 0) and negative regions and their "
                   "share on Canny edges inside the box, per model, with the controls "
                   "(randomised weights, shuffled edges) beside them.",
                   lambda: fig.lrp_regions_figure(lrp)),
        FigureSpec("density", "lrp", "Where relevance, edges and objects lie",
                   "Share of images whose positive LRP region, Canny edges or object box "
                   "covers each pixel of the model-input frame.",
                   densities),
        FigureSpec("heatmaps", "lrp", "LRP heat maps",
                   "Relevance overlays for a few images (rows) and models (columns).",
                   gallery_figure),
        FigureSpec("qq", "hypotheses", "Q-Q plots of the paired differences",
                   "Normal quantile plots of each hypothesis's differences a − b; departures "
                   "from the line argue for the Wilcoxon test over the t-test.",
                   lambda: fig.qq_figure(pairs, hypotheses)),
    ]


def _make_figures(specs: list[FigureSpec], run: RunDir, dpi: int, record: AnalysisRecord,
                  log: Callable[[str], None]) -> None:
    folder = run.path("figures")
    with progress_bar(transient=True) as bar:
        task = bar.add_task("figures", total=len(specs))
        for spec in specs:
            _make_figure(spec, folder, run, dpi, record, log)
            bar.advance(task)


def _make_figure(spec: FigureSpec, folder: Path, run: RunDir, dpi: int, record: AnalysisRecord,
                 log: Callable[[str], None]) -> None:
    try:
        written = fig.save_figure(spec.build(), folder / spec.name, dpi=dpi)
    except fig.FigureInputError as error:
        reason = str(error)
    except Exception as error:  # one broken figure must not cost the whole analysis
        reason = f"failed: {type(error).__name__}: {error}"
        log(f"[yellow]figure {spec.name} {reason}[/yellow]")
    else:
        record.figures.append({
            "name": spec.name, "section": spec.section, "title": spec.title,
            "caption": spec.caption,
            **{p.suffix.lstrip("."): str(p.relative_to(run.root)) for p in written},
        })
        return
    record.figures_skipped.append({"name": spec.name, "section": spec.section,
                                   "title": spec.title, "reason": reason})


def _contact_sheets(run: RunDir, image_ids: list[str], record: AnalysisRecord) -> None:
    try:
        from localglobal.probes.contact import write_contact_sheet
    except ImportError as error:
        record.figures_skipped.append({"name": "contact", "section": "probes",
                                       "title": "Contact sheets",
                                       "reason": f"contact sheets unavailable: {error}"})
        return
    for image_id in image_ids:
        out = run.path("figures", "contact", f"{image_id}.png")
        try:
            path = write_contact_sheet(run, image_id, out)
        except Exception as error:  # a missing perturbation should not stop the analysis
            record.figures_skipped.append({
                "name": f"contact-{image_id}", "section": "probes",
                "title": f"Contact sheet {image_id}",
                "reason": f"failed: {type(error).__name__}: {error}"})
            continue
        path = Path(path).resolve()
        record.figures.append({
            "name": f"contact-{image_id}", "section": "probes",
            "title": f"Probes of {image_id}",
            "caption": "The original, every probe at every level, the edge mask and the box.",
            "png": str(path.relative_to(run.root) if path.is_relative_to(run.root) else path),
        })


def _spread(values: list[str], limit: int) -> list[str]:
    if limit <= 0 or not values:
        return []
    return [values[int(i)] for i in np.unique(np.linspace(0, len(values) - 1, limit).round())]


def _remove_stale_figures(run: RunDir, specs: list[FigureSpec], record: AnalysisRecord) -> None:
    """Delete an earlier run's version of each figure that was not drawn this time.

    Only this stage's own figure files go; contact sheets (which ``localglobal show``
    also writes) are left alone.
    """
    drawn = {entry["name"] for entry in record.figures}
    for spec in specs:
        if spec.name not in drawn:
            for suffix in (".png", ".pdf"):
                run.path("figures", spec.name + suffix).unlink(missing_ok=True)


# --------------------------------------------------------------------------- the stage


def analyze_stage(ctx: StageContext) -> dict[str, Any]:
    """Run the analysis of a run directory (see the module docstring for the outputs).

    Raises
    ------
    MissingInputError
        Without ``predictions.parquet``.
    ValueError
        When a configured hypothesis names a model, probe, level, control or measure
        that the run does not hold (before anything is written).
    """
    run: RunDir = ctx.run
    analysis = ctx.config.analysis
    seed = ctx.config.run.seed
    crop = ctx.config.frame.crop
    record = AnalysisRecord()

    predictions, notes = clean_predictions(run.read("predictions"))
    record.notes.extend(notes)
    attributions = run.read("attributions") if run.has("attributions") else None
    validate_hypotheses(analysis.hypotheses, predictions, attributions)
    samples = run.read("samples") if run.has("samples") else None

    if (predictions["probe"] == "patch").any():
        interaction = patch_interaction(predictions, measure=analysis.interaction_measure,
                                        n_resamples=analysis.bootstrap, seed=seed)
        record.section("interaction", "done", models=int(interaction.summary["model"].nunique()),
                       sizes=int(interaction.summary["size"].nunique()))
        record.notes.extend(interaction.notes)
        interaction_summary, interaction_images = interaction.summary, interaction.images
    else:
        interaction_summary = pd.DataFrame(columns=SUMMARY_COLUMNS)
        interaction_images = pd.DataFrame(columns=IMAGE_COLUMNS)
        record.section("interaction", "skipped", "no patch predictions in this run")
    run.write("interaction", interaction_summary)
    write_table(run.path(INTERACTION_IMAGES_NAME), interaction_images)

    results = evaluate_hypotheses(
        analysis.hypotheses, predictions, attributions,
        interaction_summary if len(interaction_summary) else None,
        alpha=analysis.alpha, zero_method=analysis.zero_method,
        n_resamples=analysis.bootstrap, seed=seed)
    run.write("hypotheses", results.table)
    write_table(run.path(PAIRS_NAME), results.pairs)
    verdicts = results.table["verdict"].value_counts().to_dict()
    record.section("hypotheses", "done", n=len(results.table), verdicts=verdicts)

    summary = probe_summary(predictions, "true_prob")
    write_table(run.path(PROBE_SUMMARY_NAME), summary)

    bias = None
    cue_path = run.path(CUE_CONFLICT_NAME)
    if cue_path.exists():
        bias = shape_bias(pd.read_parquet(cue_path))
        run.write("shape_bias", bias)
        record.section("shape_bias", "done", models=len(bias))
    else:
        run.table_path("shape_bias").unlink(missing_ok=True)
        record.section("shape_bias", "skipped",
                       f"{CUE_CONFLICT_NAME} is missing: no cue-conflict stimuli were "
                       "evaluated (data.cue_conflict unset, or no model's label space "
                       "holds their classes)")

    lrp = None
    if attributions is not None:
        lrp = lrp_summary(attributions)
        write_table(run.path(LRP_SUMMARY_NAME), lrp)
        record.section("lrp", "done", models=int(attributions["model"].nunique()))
    else:
        run.path(LRP_SUMMARY_NAME).unlink(missing_ok=True)
        record.section("lrp", "skipped",
                       "attributions.parquet is missing: the attribute stage has not run")

    tables = {"probe_summary": summary, "interaction": interaction_summary,
              "interaction_images": interaction_images, "hypotheses": results.table,
              "pairs": results.pairs, "lrp_summary": lrp, "shape_bias": bias,
              "samples": samples, "attributions": attributions}
    specs = _figure_specs(tables, crop, run, ctx.config.report.gallery_images,
                          analysis.interaction_measure)
    _make_figures(specs, run, analysis.figure_dpi, record, ctx.log)
    image_ids = (samples["image_id"].astype(str).tolist() if samples is not None
                 else sorted(predictions["image_id"].unique()))
    if analysis.contact_sheets:
        _contact_sheets(run, _spread(image_ids, analysis.contact_sheets), record)
    _remove_stale_figures(run, specs, record)
    write_json(run.path(REPORT_NAME), record.as_dict())

    return {
        "hypotheses": len(results.table),
        "supported": int(results.table["supported"].sum()),
        "not_tested": int((results.table["verdict"] == "not tested").sum()),
        "figures": len(record.figures),
        "figures_skipped": len(record.figures_skipped),
        "shape_bias_models": 0 if bias is None else len(bias),
    }
