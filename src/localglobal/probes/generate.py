"""The ``perturb`` and ``edges`` stages: probe images and edge masks for every sample.

``perturb`` reads ``samples.parquet`` and, per image, writes lossless PNGs in the
model-input frame under ``perturbations/<probe>/<wnid>/`` and one row per image in
``perturbations.parquet``:

=================  ==============  ==================  ===================================
probe              level           variant             params (JSON)
=================  ==============  ==================  ===================================
original           0               "0"                 ``{}``
scramble           block side      "0" … "v−1"         ``{"block", "permutation"}``
patch              patch side      patch index, "all"  ``{"size", "fill", "rects"}``
smooth             passes 1 … k    "0"                 ``{"operator", "iterations", "params"}``
smooth_diff        1               "0"                 as smooth, plus ``"frame"``
smooth_diff_inv    1               "0"                 as smooth_diff
=================  ==============  ==================  ===================================

Smoothing runs on the full-resolution image; every pass is then taken into the frame.
The removed detail is computed **in the frame**, between the stored original and the
stored first pass: ``smooth_diff = |original − smooth₁|`` and ``smooth_diff_inv =
255 − smooth_diff`` hold exactly between the PNGs, and the image shows what the model
actually loses, not detail that resizing would have averaged away anyway.

Scramble permutations are seeded per image (:func:`~localglobal.probes.scramble.image_seed`),
so the same configuration and seed give byte-identical files whatever else is in the
run. Each image is one unit of resume; an image that cannot be read, is too small
(shorter side below ``probes.min_side``) or that a smoother fails on is reported in
``perturb-report.json`` and the summary, and the other images go on.

``edges`` writes ``edges.parquet`` (image_id, lower, upper, n_edge, n_edge_in_box,
n_edge_out_box, median, sigma) and ``edges.npz`` (one packed mask per image id, and
``shape``), computed on the model-input image; :func:`load_edge_masks` reads them back.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from localglobal.config import RunConfig
from localglobal.data.geometry import to_input_frame
from localglobal.executor import parallel_map
from localglobal.probes.edges import auto_canny, edge_counts, pack_mask, unpack_mask
from localglobal.probes.patch import fill_colour, patch_images, patch_rects
from localglobal.probes.scramble import block_grid, scramble_variants
from localglobal.probes.smooth import OPERATORS, TORCHSCRIPT, Smoother, get_smoother, invert
from localglobal.probes.smooth import removed_detail as removed_detail_image
from localglobal.probes.smooth import smooth as smooth_passes
from localglobal.store import MissingInputError, RunDir, write_json, write_npz, write_png

# Bump when the stored images change for unchanged parameters, so old shards are not reused.
PROBE_FORMAT = 1
EDGES_FORMAT = 1

PERTURBATION_COLUMNS = ["item_id", "image_id", "wnid", "probe", "level", "variant", "params",
                        "path", "class_index", "split"]
EDGE_COLUMNS = ["image_id", "lower", "upper", "n_edge", "n_edge_in_box", "n_edge_out_box",
                "median", "sigma"]
SAMPLE_COLUMNS = ["image_id", "path", "wnid"]


class ImageInputError(ValueError):
    """A source image cannot be used (unreadable, too small, not convertible to RGB)."""


# --------------------------------------------------------------------------- images


_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


def load_rgb(path: str | os.PathLike[str], min_side: int = 1) -> Image.Image:
    """Decode an image file as RGB, whatever its format, name or colour mode.

    The format is taken from the content (a PNG named ``.JPEG`` decodes); greyscale,
    palette, CMYK and alpha images are converted as torchvision's loader does
    (``convert("RGB")``), 16-bit greyscale is scaled to 8 bits. EXIF orientation is
    not applied, as the annotations refer to the stored pixels.

    Args:
        path: the image file.
        min_side: shorter side, pixels, below which the image is refused.

    Raises:
        ImageInputError: missing, undecodable, too small or not convertible; the
            message names the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"{path}: no such image file")
    mode = "unknown"
    try:
        with Image.open(path) as opened:
            opened.load()
            mode = opened.mode
            if mode in _SIXTEEN_BIT:
                levels = np.asarray(opened, dtype=np.uint16).astype(np.float64) / 257.0
                image = Image.fromarray(np.rint(levels).astype(np.uint8), "L").convert("RGB")
            else:
                image = opened.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageInputError(f"{path}: not a decodable image ({error})") from None
    except ValueError as error:
        raise ImageInputError(f"{path}: cannot convert mode {mode} to RGB ({error})") from None
    width, height = image.size
    if min(width, height) < min_side:
        raise ImageInputError(
            f"{path}: {width}×{height} pixels is too small (shorter side below "
            f"min_side = {min_side})"
        )
    return image


def _file_fingerprint(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}|missing"
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def _shard_name(image_id: str, path: str) -> str:
    digest = hashlib.sha256(_file_fingerprint(path).encode()).hexdigest()[:12]
    return f"{image_id}.{digest}"


def _check_samples(samples: pd.DataFrame, extra: Iterable[str] = ()) -> None:
    missing = [c for c in [*SAMPLE_COLUMNS, *extra] if c not in samples.columns]
    if missing:
        raise ValueError(f"samples.parquet lacks column(s) {missing}")
    repeated = samples["image_id"][samples["image_id"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(f"samples.parquet repeats image ids {repeated[:5]}; ids must be unique")


def _safe_component(value: str, what: str) -> str:
    value = str(value)
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ImageInputError(f"{what} {value!r} cannot be used in a file name")
    return value


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class ProbePlan:
    """Everything that decides the probe images of one source image (picklable).

    Build it with :meth:`from_config`, which checks the parameters (block sides that
    divide the crop, patch sides that fit it, the smoothing operator and, for a
    TorchScript smoother, the model itself) before any image is touched.
    """

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    seed: int = 1
    probes: tuple[str, ...] = ("scramble", "patch", "smooth")
    blocks: tuple[int, ...] = (28, 32, 56, 112)
    variants: int = 3
    patch_sizes: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70)
    fill: str | tuple[int, int, int] = "black"
    smoother: Smoother | None = None
    iterations: int = 5
    removed_detail: bool = True
    min_side: int = 16
    format: int = field(default=PROBE_FORMAT)

    @classmethod
    def from_config(cls, config: RunConfig, *, validate: bool = True) -> ProbePlan:
        """The plan a run configuration asks for.

        Raises:
            ValueError: a block side that does not divide the crop (naming both), a
                patch side larger than the crop, an unknown smoothing operator or
                parameter, or a TorchScript model that fails its check.
        """
        probes = config.probes
        smoother = None
        if "smooth" in probes.probes:
            known = set(OPERATORS) | {TORCHSCRIPT}
            unknown = sorted(set(probes.smooth.params) - known)
            if unknown:
                raise ValueError(f"probes.smooth.params: unknown operator(s) {unknown}; "
                                 f"known: {sorted(known)}")
            key = probes.smooth.operator if probes.smooth.operator in OPERATORS else TORCHSCRIPT
            smoother = get_smoother(probes.smooth.operator, probes.smooth.params.get(key),
                                    validate=validate)
        fill = probes.patch.fill
        plan = cls(
            resize=config.frame.resize, crop=config.frame.crop,
            interpolation=config.frame.interpolation, seed=config.run.seed,
            probes=tuple(dict.fromkeys(probes.probes)),
            blocks=tuple(probes.scramble.blocks), variants=probes.scramble.variants,
            patch_sizes=tuple(probes.patch.sizes),
            fill=fill if isinstance(fill, str) else tuple(int(v) for v in fill),
            smoother=smoother, iterations=probes.smooth.iterations,
            removed_detail=probes.smooth.removed_detail, min_side=probes.min_side,
        )
        plan.check()
        return plan

    def check(self) -> None:
        """Raise ValueError for parameters that cannot give valid probes on the crop."""
        if "scramble" in self.probes:
            for block in self.blocks:
                rows, cols = block_grid(self.crop, self.crop, block)
                if rows * cols < 2:
                    raise ValueError(f"block side {block} leaves a single block of the "
                                     f"{self.crop}-pixel input; nothing to scramble")
        if "patch" in self.probes:
            for size in self.patch_sizes:
                patch_rects(self.crop, size)
            fill_colour(np.zeros((1, 1, 3), np.uint8), self.fill)

    def key(self) -> dict[str, Any]:
        """The parameters as JSON-able data (for the shard key)."""
        return {
            "frame": [self.resize, self.crop, self.interpolation], "seed": self.seed,
            "probes": list(self.probes), "blocks": list(self.blocks),
            "variants": self.variants, "patch_sizes": list(self.patch_sizes),
            "fill": self.fill if isinstance(self.fill, str) else list(self.fill),
            "smoother": self.smoother.describe() if self.smoother else None,
            "iterations": self.iterations, "removed_detail": self.removed_detail,
            "min_side": self.min_side, "format": self.format,
        }


def _params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, separators=(",", ":"))


def probe_images(plan: ProbePlan, image: Image.Image | np.ndarray, image_id: str,
                 ) -> Iterable[tuple[str, int, str, dict[str, Any], np.ndarray]]:
    """Every probe image of one source image, in the model-input frame.

    Args:
        plan: what to generate.
        image: the full-resolution source image (PIL RGB or H×W×3 uint8).
        image_id: seeds the scrambles.

    Yields:
        ``(probe, level, variant, params, image)`` with image crop×crop×3 uint8, in a
        fixed order: original, scrambles, patches, smoothing passes, removed detail.
    """
    full = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    frame = to_input_frame(full, plan.resize, plan.crop, plan.interpolation)
    yield "original", 0, "0", {}, frame
    if "scramble" in plan.probes:
        for block in plan.blocks:
            variants = scramble_variants(frame, block, plan.variants, plan.seed, image_id)
            for variant, (scrambled, record) in enumerate(variants):
                yield "scramble", int(block), str(variant), record.params(), scrambled
    if "patch" in plan.probes:
        for size in plan.patch_sizes:
            for variant, patched, record in patch_images(frame, size, plan.fill):
                yield "patch", int(size), variant, record.params(), patched
    if "smooth" in plan.probes and plan.smoother is not None:
        passes, record = smooth_passes(full, plan.smoother, plan.iterations)
        framed = [to_input_frame(p, plan.resize, plan.crop, plan.interpolation) for p in passes]
        for k, smoothed in enumerate(framed, start=1):
            yield "smooth", k, "0", record.params_for(k), smoothed
        if plan.removed_detail:
            detail = removed_detail_image(frame, framed[0])
            params = dict(record.params_for(1), frame="input")
            yield "smooth_diff", 1, "0", params, detail
            yield "smooth_diff_inv", 1, "0", params, invert(detail)


@dataclass(frozen=True)
class _ImageTask:
    plan: ProbePlan
    run_root: str
    sample: dict[str, Any]
    shard: str


@dataclass
class _ImageResult:
    image_id: str
    shard: str
    rows: list[dict[str, Any]]
    error: str | None = None


def perturb_image(plan: ProbePlan, sample: dict[str, Any], run_root: str | os.PathLike[str],
                  ) -> list[dict[str, Any]]:
    """Generate and write every probe image of one sample; return its table rows.

    Args:
        plan: what to generate.
        sample: a ``samples.parquet`` row (image_id, path, wnid; class_index and split
            are copied when present).
        run_root: the run directory; images go to ``perturbations/<probe>/<wnid>/``.

    Raises:
        ImageInputError: the image cannot be used.
        ValueError, RuntimeError: a probe failed on this image (e.g. the smoother).
    """
    image_id = _safe_component(sample["image_id"], "image id")
    wnid = _safe_component(sample["wnid"], "wnid")
    image = load_rgb(sample["path"], plan.min_side)
    root = Path(run_root)
    rows = []
    for probe, level, variant, params, pixels in probe_images(plan, image, image_id):
        relative = f"perturbations/{probe}/{wnid}/{image_id}_{level}_{variant}.png"
        write_png(root / relative, pixels)
        rows.append({
            "item_id": f"{image_id}/{probe}/{level}/{variant}",
            "image_id": image_id, "wnid": wnid, "probe": probe, "level": int(level),
            "variant": str(variant), "params": _params_json(params), "path": relative,
            "class_index": int(sample.get("class_index", -1)),
            "split": str(sample.get("split", "")),
        })
    return rows


def _perturb_task(task: _ImageTask) -> _ImageResult:
    image_id = str(task.sample["image_id"])
    try:
        rows = perturb_image(task.plan, task.sample, task.run_root)
    except Exception as error:  # one bad image must not stop the others; it is reported
        return _ImageResult(image_id, task.shard, [], _describe(error))
    return _ImageResult(image_id, task.shard, rows)


def _describe(error: BaseException) -> str:
    if isinstance(error, ImageInputError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _perturbation_table(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        rows = pd.DataFrame({c: pd.Series(dtype="object") for c in PERTURBATION_COLUMNS})
    rows["level"] = rows["level"].astype("int64")
    rows["class_index"] = rows["class_index"].astype("int64")
    for column in ("item_id", "image_id", "wnid", "probe", "variant", "params", "path", "split"):
        rows[column] = rows[column].astype(str)
    return rows[PERTURBATION_COLUMNS + [c for c in rows.columns
                                        if c not in PERTURBATION_COLUMNS]]


def _records(samples: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in samples.to_dict(orient="records"):
        out.append({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                    for k, v in record.items()})
    return out


def _fail_all(stage: str, failures: list[dict[str, str]]) -> None:
    from localglobal.run import StageError

    raise StageError(f"{stage}: every one of the {len(failures)} images failed; first: "
                     f"{failures[0]['image_id']}: {failures[0]['error']}")


def input_notes(samples: pd.DataFrame, crop: int
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sampled images the probes use but a reader should know about.

    Returns:
        (images whose shorter side is below ``crop`` pixels, so the resize enlarges
        them: image_id, width, height), (images stored in another colour mode than
        RGB and converted: image_id, mode). Empty when ``samples`` lacks the columns.
    """
    small: list[dict[str, Any]] = []
    converted: list[dict[str, Any]] = []
    if {"width", "height"} <= set(samples.columns):
        shorter = np.minimum(samples["width"].to_numpy(), samples["height"].to_numpy())
        for row in samples.loc[shorter < crop, ["image_id", "width", "height"]].itertuples():
            small.append({"image_id": str(row.image_id), "width": int(row.width),
                          "height": int(row.height)})
    if "mode" in samples.columns:
        for row in samples.loc[samples["mode"].astype(str) != "RGB",
                               ["image_id", "mode"]].itertuples():
            converted.append({"image_id": str(row.image_id), "mode": str(row.mode)})
    return small, converted


def perturb_stage(ctx: Any) -> dict[str, Any]:
    """The ``perturb`` stage: probe images and ``perturbations.parquet`` for every sample.

    Args:
        ctx: the :class:`~localglobal.run.StageContext`.

    Returns:
        Summary: images, done (generated now), resumed (from finished shards), failed,
        items, items per probe, and the counts of :func:`input_notes` (images smaller
        than the crop, images converted to RGB), listed in ``perturb-report.json``.
    """
    plan = ProbePlan.from_config(ctx.config)
    samples = ctx.run.read("samples")
    _check_samples(samples)
    store = ctx.shards(plan=plan.key())
    records = _records(samples)
    names = {r["image_id"]: _shard_name(str(r["image_id"]), str(r["path"])) for r in records}
    tasks = [_ImageTask(plan, str(ctx.run.root), r, names[r["image_id"]])
             for r in records if not store.done(names[r["image_id"]])]
    resumed = len(records) - len(tasks)
    if resumed:
        ctx.log(f"perturb: {resumed} of {len(records)} images already done, resuming")
    # Import the resize code before forking so workers share it.
    to_input_frame(np.zeros((2, 2, 3), np.uint8), 2, 2)

    failures: list[dict[str, str]] = []
    by_id = {r["image_id"]: r for r in records}
    for result in parallel_map(_perturb_task, tasks, workers=ctx.n_workers,
                               description="perturb", executor=ctx.config.run.executor):
        if result.error is not None:
            failures.append({"image_id": result.image_id,
                             "path": str(by_id[result.image_id]["path"]),
                             "error": result.error})
            ctx.log(f"[yellow]perturb: skipped {result.image_id}: {result.error}[/yellow]")
            continue
        store.put(result.shard, pd.DataFrame(result.rows))

    finished = [names[r["image_id"]] for r in records if store.done(names[r["image_id"]])]
    table = _perturbation_table(store.concat(finished))
    by_probe = {str(k): int(v) for k, v in table["probe"].value_counts(sort=False).items()}
    small, converted = input_notes(samples, ctx.config.frame.crop)
    for note in small:
        ctx.log(f"[yellow]perturb: {note['image_id']} is {note['width']}×{note['height']} "
                f"pixels, smaller than the {ctx.config.frame.crop}-pixel crop: "
                "enlarged[/yellow]")
    summary = {
        "images": len(records), "done": len(tasks) - len(failures), "resumed": resumed,
        "failed": len(failures), "items": len(table), "by_probe": by_probe,
        "smaller_than_crop": len(small), "converted_to_rgb": len(converted),
    }
    write_json(ctx.run.path("perturb-report.json"),
               dict(summary, plan=plan.key(), failures=failures,
                    smaller_than_crop_images=small, converted_to_rgb_images=converted))
    if records and not finished:
        _fail_all("perturb", failures)
    ctx.run.write("perturbations", table)
    return summary


# --------------------------------------------------------------------------- edges


@dataclass(frozen=True)
class EdgePlan:
    """Parameters of the edges stage (picklable)."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    sigma: float = 0.9
    denoise: bool = True
    h: float = 30.0
    h_color: float = 10.0
    template_window: int = 7
    search_window: int = 21
    min_side: int = 16
    format: int = EDGES_FORMAT

    @classmethod
    def from_config(cls, config: RunConfig) -> EdgePlan:
        """The plan the configuration's ``frame`` and ``edges`` sections ask for."""
        e = config.edges
        return cls(config.frame.resize, config.frame.crop, config.frame.interpolation,
                   e.sigma, e.denoise, e.h, e.h_color, e.template_window, e.search_window,
                   e.min_side)

    def canny(self, frame: np.ndarray) -> tuple[np.ndarray, Any]:
        """:func:`~localglobal.probes.edges.auto_canny` with these parameters."""
        return auto_canny(frame, self.sigma, denoise=self.denoise, h=self.h,
                          h_color=self.h_color, template_window=self.template_window,
                          search_window=self.search_window)


@dataclass(frozen=True)
class _EdgeTask:
    plan: EdgePlan
    sample: dict[str, Any]
    chunk: str


def sample_box(sample: dict[str, Any]) -> tuple[float, float, float, float]:
    """The union box of a samples row, input frame, ``(x0, y0, x1, y1)``; NaN if none."""
    values = [sample.get(k) for k in ("box_x0", "box_y0", "box_x1", "box_y1")]
    if any(v is None for v in values):
        return (np.nan, np.nan, np.nan, np.nan)
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def edge_row(plan: EdgePlan, sample: dict[str, Any]) -> dict[str, Any]:
    """Edges of one sample: thresholds, counts and the packed mask (``mask`` bytes)."""
    image = load_rgb(sample["path"], plan.min_side)
    frame = to_input_frame(image, plan.resize, plan.crop, plan.interpolation)
    mask, record = plan.canny(frame)
    counts = edge_counts(mask, sample_box(sample))
    return {"image_id": str(sample["image_id"]), "lower": record.lower, "upper": record.upper,
            **counts, "median": record.median, "sigma": record.sigma,
            "mask": pack_mask(mask).tobytes(), "error": None}


def _edge_task(task: _EdgeTask) -> tuple[str, dict[str, Any]]:
    try:
        row = edge_row(task.plan, task.sample)
    except Exception as error:  # reported per image; the other images go on
        row = {"image_id": str(task.sample["image_id"]), "error": _describe(error)}
    return task.chunk, row


def _chunks(records: list[dict[str, Any]], size: int) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for start in range(0, len(records), size):
        chunk = records[start:start + size]
        text = "\n".join(f"{r['image_id']}|{_file_fingerprint(str(r['path']))}|"
                         f"{sample_box(r)}" for r in chunk)
        out.append((f"edges-{hashlib.sha256(text.encode()).hexdigest()[:16]}", chunk))
    return out


def edges_stage(ctx: Any) -> dict[str, Any]:
    """The ``edges`` stage: ``edges.parquet`` and ``edges.npz`` for every sample.

    Work is resumable in chunks of ``run.shard_size`` images; images are spread over
    the process pool one by one.

    Returns:
        Summary: images, edges (images with a mask), failed, resumed.
    """
    plan = EdgePlan.from_config(ctx.config)
    samples = ctx.run.read("samples")
    _check_samples(samples)
    if (samples["image_id"] == "shape").any():
        raise ValueError("an image id 'shape' clashes with the key of the mask shape in edges.npz")
    records = _records(samples)
    store = ctx.shards(plan=asdict(plan))
    chunks = _chunks(records, ctx.config.run.shard_size)
    todo = [(name, chunk) for name, chunk in chunks if not store.done(name)]
    sizes = {name: len(chunk) for name, chunk in todo}
    tasks = [_EdgeTask(plan, r, name) for name, chunk in todo for r in chunk]
    resumed = len(records) - len(tasks)
    to_input_frame(np.zeros((2, 2, 3), np.uint8), 2, 2)

    buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in sizes}
    for name, row in parallel_map(_edge_task, tasks, workers=ctx.n_workers,
                                  description="edges", executor=ctx.config.run.executor):
        buffers[name].append(row)
        if row.get("error"):
            ctx.log(f"[yellow]edges: skipped {row['image_id']}: {row['error']}[/yellow]")
        if len(buffers[name]) == sizes[name]:
            store.put(name, pd.DataFrame(buffers.pop(name)))

    table = store.concat([name for name, _ in chunks])
    if table.empty:
        table = pd.DataFrame({"image_id": [], "error": []})
    if "error" not in table:
        table["error"] = None
    order = {r["image_id"]: i for i, r in enumerate(records)}
    table = table.sort_values("image_id", key=lambda s: s.map(order)).reset_index(drop=True)
    failed = table[table["error"].notna()]
    ok = table[table["error"].isna()].reset_index(drop=True)
    failures = [{"image_id": r.image_id, "path": str(records[order[r.image_id]]["path"]),
                 "error": r.error} for r in failed.itertuples()]
    summary = {"images": len(records), "edges": len(ok), "failed": len(failures),
               "resumed": resumed}
    write_json(ctx.run.path("edges-report.json"), dict(summary, failures=failures))
    if records and ok.empty:
        _fail_all("edges", failures)

    edges = ok[EDGE_COLUMNS].copy()
    for column in ("n_edge", "n_edge_in_box", "n_edge_out_box"):
        edges[column] = edges[column].astype("int64")
    arrays = {row.image_id: np.frombuffer(row.mask, dtype=np.uint8) for row in ok.itertuples()}
    write_npz(ctx.run.path("edges.npz"), shape=np.array([plan.crop, plan.crop], np.int64),
              **arrays)
    ctx.run.write("edges", edges)
    return summary


def _open_edges(run: RunDir) -> Any:
    path = run.path("edges.npz")
    if not path.exists():
        raise MissingInputError(f"{path}: missing; run `localglobal edges --run {run.root}` first")
    return np.load(path)


def load_edge_masks(run: RunDir, image_ids: Iterable[str] | None = None,
                    ) -> dict[str, np.ndarray]:
    """The edge masks of a run, unpacked.

    Args:
        run: the run directory (``edges.npz`` must exist).
        image_ids: only these (default: all).

    Returns:
        image_id → crop×crop boolean mask, indexed (row, col), in the input frame.

    Raises:
        MissingInputError: the edges stage has not run.
        KeyError: an asked-for id has no mask.
    """
    with _open_edges(run) as data:
        shape = tuple(int(v) for v in data["shape"])
        wanted = [k for k in data.files if k != "shape"] if image_ids is None else list(image_ids)
        missing = [k for k in wanted if k not in data.files or k == "shape"]
        if missing:
            raise KeyError(f"no edge mask for {missing[:5]} in {run.path('edges.npz')}")
        return {k: unpack_mask(data[k], shape) for k in wanted}  # type: ignore[arg-type]
