"""The ``attribute`` stage: LRP relevance of every model for every item, versus edges and box.

Items are the rows of ``perturbations.parquet`` whose probe is in
``attribute.probes`` (default only ``original``); without a perturbations table the
``original`` items are taken straight from ``samples.parquet`` (source images brought
into the input frame). Each item is explained for its model's predicted class
(``attribute.target = "predicted"``, the thesis) or its true class in the model's
label space (``"true"``), by the composite ``attribute.composite`` with the
canonizer the model's spec names. For an LRP composite, a model whose spec names no
canonizer (or one that leaves BatchNorm layers unfolded) is refused with a message;
the others go on. Edges and box are those of the item's source image (for a
perturbed image: of the image it was made from).

Outputs (names are part of the interface, DESIGN.md "Contracts"):

``attributions.parquet``
    one row per (model, control, item): ``model, control, image_id, target, logit``,
    the region statistics and localisation metrics of
    :mod:`localglobal.attribution.regions`, plus ``item_id, probe, level, variant``.
``relevance/<model>.npy``
    N×H×W float16 channel-summed relevance (values beyond float16's ±65504
    saturate), readable with ``np.load(path, mmap_mode="r")``; its rows are listed
    in ``relevance/<model>.index.parquet`` (``image_id, control, row, item_id,
    probe``). Maps of the ``none`` and ``random-weights`` controls are stored
    (``shuffled-edges`` reuses the ``none`` maps). Model names are made safe for
    file names (``timm:x`` → ``timm_x``).
``heatmaps/<model>/<image_id>.png``
    overlays of the real model's relevance (``attribute.heatmaps``); items of other
    probes are named ``<image_id>__<probe>_<level>_<variant>.png``.
``attribute-report.json``
    the summary plus every skipped item and refused model, with the reason.

Controls (``attribute.controls``), rows told apart by ``control``:

``none``
    the model as trained.
``random-weights``
    the same architecture with every layer re-initialised under the run seed
    (Adebayo et al. 2018), BatchNorm statistics re-estimated on the first images,
    explained for the same target classes.
``shuffled-edges``
    the real relevance scored against the edge mask of another image of the same
    size (a seeded derangement of the images): the overlap expected by chance.

A relevance map holding NaN or infinity is reported, kept as a row with
``finite = False`` and NaN statistics, and stored as zeros. Work is resumable per
(model, control, shard of ``run.shard_size`` items); running out of device memory
halves the batch and goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from localglobal.attribution.canonizers import (
    RESIDUAL_CANONIZERS,
    get_canonizers,
    residual_sums,
    unmerged_batch_norms,
)
from localglobal.attribution.heatmap import overlay
from localglobal.attribution.lrp import (
    COMPOSITES,
    Explanation,
    explain_registered,
    make_composite,
    randomize_weights,
)
from localglobal.attribution.regions import STAT_COLUMNS, RegionStatistics, region_statistics
from localglobal.executor import progress_bar
from localglobal.store import (
    MissingInputError,
    RunDir,
    atomic_path,
    safe_name,
    write_json,
    write_png,
    write_table,
)

# Bump when the content of a shard changes meaning for unchanged parameters.
SHARD_FORMAT = 1
CONTROLS: tuple[str, ...] = ("none", "random-weights", "shuffled-edges")
TABLE_COLUMNS: list[str] = [
    "model", "control", "image_id", "target", "logit", *STAT_COLUMNS,
    "item_id", "probe", "level", "variant",
]
INDEX_COLUMNS: list[str] = ["image_id", "control", "row", "item_id", "probe"]
FLOAT16_MAX = float(np.finfo(np.float16).max)
CALIBRATION_IMAGES = 32


class ModelRefused(ValueError):
    """A model that cannot be attributed faithfully (no canonizer, canonizer mismatch)."""


# --------------------------------------------------------------------------- device


def choose_device(device: str | None = "auto") -> torch.device:
    """The device to run on: ``auto`` prefers CUDA, then MPS, then the CPU.

    Raises:
        ValueError: an explicitly requested device that is not available.
    """
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available")
    return chosen


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception is a device out-of-memory error (CUDA, MPS or CPU)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


# --------------------------------------------------------------------------- items


def heatmap_name(item: pd.Series | dict) -> str:
    """File stem of an item's heat map: the image id for originals, else with the probe."""
    if item["probe"] == "original":
        return safe_name(str(item["image_id"]))
    return safe_name(f"{item['image_id']}__{item['probe']}_{item['level']}_{item['variant']}")


def attribution_items(run: RunDir, probes: Sequence[str]) -> pd.DataFrame:
    """The items to attribute, with their image path, box and class.

    Args:
        run: the run directory (``samples.parquet``; ``perturbations.parquet`` when
            probes other than ``original`` are asked for).
        probes: probe names to include.

    Returns:
        One row per item: ``item_id, image_id, wnid, probe, level, variant, path``
        (absolute), ``in_frame`` (the file is already an input-frame PNG) and the
        box ``box_x0 … box_y1`` (input frame), in the perturbations table's order.

    Raises:
        MissingInputError: perturbations are needed but absent.
    """
    samples = run.read("samples")
    box_columns = ["box_x0", "box_y0", "box_x1", "box_y1"]
    missing = [c for c in ["image_id", "wnid", "path", *box_columns] if c not in samples]
    if missing:
        raise ValueError(f"{run.table_path('samples')}: missing columns {missing}")
    boxes = samples.drop_duplicates("image_id").set_index("image_id")
    if run.has("perturbations"):
        table = run.read("perturbations")
        table = table[table["probe"].isin(list(probes))].copy()
        table["path"] = [str(run.path(p)) for p in table["path"]]
        table["in_frame"] = True
    elif list(probes) == ["original"]:
        table = pd.DataFrame({
            "item_id": [f"{i}/original/0/0" for i in samples["image_id"]],
            "image_id": samples["image_id"].astype(str),
            "wnid": samples["wnid"].astype(str),
            "probe": "original", "level": 0, "variant": "0",
            "path": samples["path"].astype(str), "in_frame": False,
        })
    else:
        raise MissingInputError(
            f"{run.table_path('perturbations')}: missing, and probes {list(probes)} need it; "
            f"run `localglobal perturb --run {run.root}` first")
    table = table.drop(columns=[c for c in box_columns if c in table])
    table = table.join(boxes[box_columns], on="image_id")
    if "wnid" not in table:
        table["wnid"] = boxes["wnid"].reindex(table["image_id"]).to_numpy()
    columns = ["item_id", "image_id", "wnid", "probe", "level", "variant", "path", "in_frame",
               *box_columns]
    table = table[columns].reset_index(drop=True)
    table["level"] = table["level"].astype("int64")
    table["variant"] = table["variant"].astype(str)
    return table


def derangement(image_ids: Sequence[str], shapes: dict[str, tuple[int, ...]], seed: int,
                ) -> dict[str, str]:
    """A partner for each image: another image of the same mask size, seeded.

    Images are grouped by mask shape; within a group a seeded random cycle sends
    each image to a different one (no image keeps its own). An image alone in its
    group has no partner.

    Returns:
        image_id → partner image_id.
    """
    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, ...], list[str]] = {}
    for image_id in sorted(set(image_ids)):
        groups.setdefault(tuple(shapes[image_id]), []).append(image_id)
    partner: dict[str, str] = {}
    for shape in sorted(groups):
        members = groups[shape]
        if len(members) < 2:
            continue
        order = [members[i] for i in rng.permutation(len(members))]
        for position, image_id in enumerate(order):
            partner[image_id] = order[(position + 1) % len(order)]
    return partner


class EdgeMasks:
    """The run's edge masks, unpacked on demand (``edges.npz`` stays on disk)."""

    def __init__(self, run: RunDir):
        from localglobal.probes.edges import unpack_mask

        path = run.path("edges.npz")
        if not path.exists():
            raise MissingInputError(f"{path}: missing; run `localglobal edges --run {run.root}`")
        self._unpack = unpack_mask
        self._lock = threading.Lock()  # batches are scored in worker threads
        self._data = np.load(path)
        self.shape = tuple(int(v) for v in self._data["shape"])
        self.ids = frozenset(k for k in self._data.files if k != "shape")

    def __contains__(self, image_id: object) -> bool:
        return image_id in self.ids

    def get(self, image_id: str) -> np.ndarray:
        """The H×W boolean mask of one image (``KeyError`` if it has none)."""
        if image_id not in self.ids:
            raise KeyError(f"no edge mask for {image_id!r}")
        with self._lock:
            packed = self._data[image_id]
        return self._unpack(packed, self.shape)

    def close(self) -> None:
        self._data.close()


def load_item_image(item: dict, crop: int, resize: int, interpolation: str) -> np.ndarray:
    """An item's image as crop×crop×3 uint8 RGB in the input frame.

    Raises:
        ValueError: unreadable file, or an input-frame PNG of the wrong size.
    """
    from localglobal.store import read_png

    if item["in_frame"]:
        image = read_png(item["path"])
        if image.shape != (crop, crop, 3):
            raise ValueError(f"{item['path']}: {image.shape[1]}×{image.shape[0]} pixels, "
                             f"expected the {crop}×{crop} input frame")
        return image
    from localglobal.data.geometry import to_input_frame
    from localglobal.probes.generate import load_rgb

    return to_input_frame(load_rgb(item["path"]), resize, crop, interpolation)


# --------------------------------------------------------------------------- computing


@dataclass
class Attributor:
    """Explains batches on a device, halving the batch when memory runs out."""

    composite: str
    canonizer: str | None
    epsilon: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    device: torch.device
    batch_size: int
    halvings: int = 0

    def normalise(self, images: np.ndarray) -> torch.Tensor:
        """N×H×W×3 uint8 → N×3×H×W float32 normalised, on the device."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)

    @property
    def lrp(self) -> bool:
        return self.composite != "gradient-x-input"

    @contextlib.contextmanager
    def registered(self, model: torch.nn.Module, name: str) -> Iterator[None]:
        """Register the composite (and its canonizers) on ``model`` for many batches.

        Raises:
            ModelRefused: the canonizer leaves BatchNorm layers unfolded, or a residual
                canonizer finds no residual block, so it does not fit the architecture.
        """
        if not self.lrp:
            yield
            return
        canonizers = get_canonizers(self.canonizer) if self.canonizer else []
        composite = make_composite(self.composite, canonizers, epsilon=self.epsilon,
                                   mean=self.mean, std=self.std)
        with composite.context(model):
            missed = unmerged_batch_norms(model)
            if missed:
                raise ModelRefused(
                    f"model {name!r}: canonizer {self.canonizer!r} does not fit its "
                    f"architecture ({len(missed)} BatchNorm layers left unfolded, e.g. "
                    f"{missed[0]}); name the right canonizer in [models.{name}] canonizer")
            if self.canonizer in RESIDUAL_CANONIZERS and residual_sums(model) == 0:
                raise ModelRefused(
                    f"model {name!r}: canonizer {self.canonizer!r} found none of its "
                    "residual blocks, so their additions would not split relevance; "
                    f"name the right canonizer in [models.{name}] canonizer")
            yield

    def _once(self, model: torch.nn.Module, x: torch.Tensor,
              targets: torch.Tensor | None) -> Explanation:
        return explain_registered(model, x, targets, lrp=self.lrp)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor | np.ndarray,
                 targets: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Channel-summed maps (N×H×W float32), targets (N int64), target logits (N).

        ``x`` is a normalised N×3×H×W tensor on the device, or N×H×W×3 uint8 images,
        which are then moved and normalised one batch at a time, so that running out
        of memory while copying them halves the batch too.
        """
        maps, target_out, logits = [], [], []
        start = 0
        while start < x.shape[0]:
            stop = min(start + self.batch_size, x.shape[0])
            part = None if targets is None else targets[start:stop]
            try:
                batch = (self.normalise(x[start:stop]) if isinstance(x, np.ndarray)
                         else x[start:stop])
                result = self._once(model, batch, part)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                if not is_out_of_memory(error) or self.batch_size == 1:
                    raise
                _free_device_memory(self.device)
                self.batch_size = max(1, self.batch_size // 2)
                self.halvings += 1
                continue
            maps.append(result.relevance.sum(dim=1).float().cpu().numpy())
            target_out.append(result.targets.cpu().numpy())
            logits.append(result.target_logits.float().cpu().numpy())
            start = stop
        return (np.concatenate(maps), np.concatenate(target_out).astype(np.int64),
                np.concatenate(logits).astype(np.float64))


@dataclass
class ShardResult:
    """What one shard of one pass produced."""

    rows: dict[str, list[dict]] = field(default_factory=dict)  # control → table rows
    maps: np.ndarray | None = None  # K×H×W float16 maps of the attributed items
    map_items: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # items skipped, with the reason
    non_finite: list[str] = field(default_factory=list)  # items kept with NaN statistics


def _stat_row(model: str, control: str, item: dict, target: int, logit: float,
              stats: RegionStatistics) -> dict:
    return {"model": model, "control": control, "image_id": item["image_id"],
            "target": int(target), "logit": float(logit), **stats.as_dict(),
            "item_id": item["item_id"], "probe": item["probe"], "level": int(item["level"]),
            "variant": str(item["variant"])}


def _box(item: dict) -> tuple[float, float, float, float]:
    return tuple(float(item[k]) for k in ("box_x0", "box_y0", "box_x1", "box_y1"))  # type: ignore[return-value]


@dataclass
class StagePlan:
    """Settings shared by every model of one stage run."""

    run: RunDir
    model_name: str
    items: pd.DataFrame
    edges: EdgeMasks
    partner: dict[str, str]
    controls: tuple[str, ...]
    frame: tuple[int, int, str]  # crop, resize, interpolation
    heatmaps: bool


def _load_batch(items: list[dict], frame: tuple[int, int, str],
                ) -> tuple[list[dict], np.ndarray | None, list[dict]]:
    crop, resize, interpolation = frame
    good, images, failures = [], [], []
    for item in items:
        try:
            images.append(load_item_image(item, crop, resize, interpolation))
            good.append(item)
        except (OSError, ValueError) as error:
            failures.append({"item_id": item["item_id"], "error": f"{type(error).__name__}: "
                             f"{error}"})
    return good, (np.stack(images) if images else None), failures


def _score_batch(plan: StagePlan, control: str, items: list[dict], images: np.ndarray,
                 maps: np.ndarray, targets: np.ndarray, logits: np.ndarray,
                 ) -> dict[str, list[dict]]:
    """Statistics rows of one explained batch (run in a worker thread)."""
    rows: dict[str, list[dict]] = {c: [] for c in plan.controls if c != "random-weights"}
    rows.setdefault(control, [])
    for k, item in enumerate(items):
        relevance = maps[k]
        box = _box(item)
        edges = plan.edges.get(item["image_id"])
        stats = region_statistics(relevance, edges, box)
        rows[control].append(_stat_row(plan.model_name, control, item, targets[k], logits[k],
                                       stats))
        if control != "none":
            continue
        if "shuffled-edges" in plan.controls:
            partner = plan.partner.get(item["image_id"])
            if partner is not None:
                shuffled = region_statistics(relevance, plan.edges.get(partner), box)
                rows["shuffled-edges"].append(_stat_row(
                    plan.model_name, "shuffled-edges", item, targets[k], logits[k], shuffled))
        if plan.heatmaps and stats.finite:
            path = plan.run.path("heatmaps", safe_name(plan.model_name),
                                 heatmap_name(item) + ".png")
            write_png(path, overlay(images[k], relevance, edges=edges, box=box))
    return rows


def _run_shard(plan: StagePlan, attributor: Attributor, model: torch.nn.Module, control: str,
               items: list[dict], targets: dict[str, int] | None, pool: ThreadPoolExecutor,
               advance: Callable[[int], None], missing_target: str = "no target class",
               ) -> ShardResult:
    """Explain one shard's items with one model, scoring batches while the next runs.

    Images of the next batch are read, and finished batches scored, in ``pool``'s
    threads while the device works. ``targets`` (item_id → class) fixes the
    explained classes; items without one are reported with ``missing_target``.
    """
    result = ShardResult()
    batches = [items[i:i + attributor.batch_size]
               for i in range(0, len(items), attributor.batch_size)]
    pending: list[tuple[list[dict], Future]] = []
    maps_out: list[np.ndarray] = []
    loading = pool.submit(_load_batch, batches[0], plan.frame) if batches else None
    for index in range(len(batches)):
        good, images, failures = loading.result()  # type: ignore[union-attr]
        if index + 1 < len(batches):
            loading = pool.submit(_load_batch, batches[index + 1], plan.frame)
        result.failures += failures
        if targets is not None and good:
            keep = [item["item_id"] in targets for item in good]
            result.failures += [{"item_id": item["item_id"], "error": missing_target}
                                for item, kept in zip(good, keep, strict=True) if not kept]
            good = [item for item, kept in zip(good, keep, strict=True) if kept]
            images = images[np.asarray(keep)] if good else None
        if not good or images is None:
            advance(len(batches[index]))
            continue
        wanted = None if targets is None else torch.tensor(
            [targets[item["item_id"]] for item in good], dtype=torch.long)
        maps, target_idx, logits = attributor(model, images, wanted)
        finite = np.isfinite(maps.reshape(len(good), -1)).all(axis=1)
        stored = np.where(np.isfinite(maps), maps, 0.0)
        maps_out.append(np.clip(stored, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16))
        result.map_items += [item["item_id"] for item in good]
        result.non_finite += [good[k]["item_id"] for k in np.flatnonzero(~finite)]
        pending.append((good, pool.submit(_score_batch, plan, control, good, images, maps,
                                          target_idx, logits)))
        advance(len(batches[index]))
    for _good, future in pending:
        for name, rows in future.result().items():
            result.rows.setdefault(name, []).extend(rows)
    if maps_out:
        result.maps = np.concatenate(maps_out)
    return result


# --------------------------------------------------------------------------- per model


def _shard_plan(items: pd.DataFrame, shard_size: int) -> list[tuple[str, list[dict]]]:
    records = items.to_dict("records")
    shards = []
    for number, start in enumerate(range(0, len(records), shard_size)):
        chunk = records[start:start + shard_size]
        text = "\n".join(f"{r['item_id']}|{r['path']}|{_box(r)}" for r in chunk)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        shards.append((f"shard-{number:05d}-{digest}", chunk))
    return shards


def _upstream_hashes(run: RunDir) -> dict[str, Any]:
    from localglobal.run import Manifest

    if not run.manifest_path.exists():
        return {}
    manifest = Manifest(run)
    return {name: manifest.stage(name).get("hash") for name in ("index", "edges", "perturb")}


def _true_targets(items: pd.DataFrame, label_space: str) -> dict[str, int]:
    from localglobal.data.classes import get_label_space

    space = get_label_space(label_space)
    return {row.item_id: space.index_of(row.wnid) for row in items.itertuples()
            if row.wnid in space}


def _calibration_images(items: pd.DataFrame, attributor: Attributor,
                        frame: tuple[int, int, str]) -> torch.Tensor | None:
    good, images, _ = _load_batch(items.head(CALIBRATION_IMAGES).to_dict("records"), frame)
    return attributor.normalise(images) if images is not None and len(good) > 1 else None


def attribute_model(ctx: Any, name: str, items: pd.DataFrame, edges: EdgeMasks,
                    partner: dict[str, str], device: torch.device, pool: ThreadPoolExecutor,
                    ) -> dict[str, Any]:
    """Attribute one model for every control; returns its rows, maps and report.

    Raises:
        ModelRefused: the spec names no canonizer, or one that does not fit.
    """
    from localglobal.models.registry import load_model, resolve_model

    config = ctx.config
    settings = config.attribute
    spec = resolve_model(name, config)
    lrp = settings.composite != "gradient-x-input"  # gradient × input needs no canonizer
    if lrp and spec.canonizer is None:
        raise ModelRefused(
            f"model {name!r} ({spec.arch}) has no LRP canonizer, so its BatchNorm and skip "
            f"connections would be attributed wrongly; set [models.{name}] canonizer = "
            f"\"resnet\", \"vgg\" or \"seresnet\" if one fits")
    loaded: list[torch.nn.Module] = []

    def trained_model() -> torch.nn.Module:
        # Loaded on first use: a fully resumed model needs no weights at all.
        if not loaded:
            loaded.append(load_model(spec, device=device))
        return loaded[0]

    frame = (config.frame.crop, config.frame.resize, config.frame.interpolation)
    requested = tuple(c for c in CONTROLS if c == "none" or c in settings.controls)
    plan = StagePlan(ctx.run, name, items, edges, partner, requested, frame, settings.heatmaps)
    attributor = Attributor(settings.composite, spec.canonizer if lrp else None,
                            settings.epsilon, spec.mean, spec.std, device, settings.batch_size)
    base = {"format": SHARD_FORMAT, "model": spec.fingerprint(),
            "composite": settings.composite, "epsilon": settings.epsilon,
            "target": settings.target, "frame": list(frame), "seed": config.run.seed,
            "upstream": _upstream_hashes(ctx.run), "heatmaps": settings.heatmaps}
    shards = _shard_plan(items, config.run.shard_size)
    failures: list[dict] = []
    non_finite: list[dict] = []  # of the shards computed in this call
    counts = {"computed": 0, "resumed": 0}

    targets: dict[str, int] | None = None
    if settings.target == "true":
        targets = _true_targets(items, spec.label_space)
        missing = len(items) - len(targets)
        if missing:
            ctx.log(f"[yellow]attribute {name}: {missing} items have a class outside the "
                    f"label space {spec.label_space!r}; skipped[/yellow]")

    real_controls = ["none"] + (["shuffled-edges"] if "shuffled-edges" in requested else [])
    stores = {c: ctx.shards(**base, control=c) for c in requested}

    def todo_of(outputs: list[str]) -> list[tuple[str, list[dict]]]:
        return [(s, chunk) for s, chunk in shards if not all(stores[c].done(s) for c in outputs)]

    def run_pass(control: str, pass_model: torch.nn.Module,
                 pass_targets: dict[str, int] | None, outputs: list[str],
                 missing_target: str) -> None:
        todo = todo_of(outputs)
        counts["resumed"] += len(shards) - len(todo)
        total = sum(len(chunk) for _, chunk in todo)
        with attributor.registered(pass_model, name), progress_bar() as progress:
            task = progress.add_task(f"attribute {name} ({control})", total=total)
            for shard_name, chunk in todo:
                result = _run_shard(plan, attributor, pass_model, control, chunk, pass_targets,
                                    pool, lambda n: progress.advance(task, n), missing_target)
                folder = stores[control].folder
                maps = result.maps if result.maps is not None else np.zeros(
                    (0, frame[0], frame[0]), np.float16)
                np.save(folder / f"{shard_name}.maps.npy", maps)
                pd.DataFrame({"item_id": result.map_items}).to_parquet(
                    folder / f"{shard_name}.mapindex.pq", index=False)
                for output in outputs:
                    rows = result.rows.get(output, [])
                    stores[output].put(shard_name, pd.DataFrame(rows, columns=TABLE_COLUMNS))
                for failure in result.failures:
                    failures.append({"model": name, "control": control, **failure})
                non_finite.extend({"model": name, "control": control, "item_id": item_id}
                                  for item_id in result.non_finite)
                counts["computed"] += 1

    if todo_of(real_controls):
        run_pass("none", trained_model(), targets, real_controls,
                 f"true class outside the model's label space {spec.label_space!r}")
    else:
        counts["resumed"] += len(shards)
    if "random-weights" in requested and todo_of(["random-weights"]):
        explained = stores["none"].concat([s for s, _ in shards])
        random_targets = {} if explained.empty else dict(
            zip(explained["item_id"], explained["target"].astype(int), strict=True))
        calibration = _calibration_images(items, attributor, frame)
        with torch.no_grad():
            randomized = randomize_weights(trained_model(), config.run.seed, calibration)
        loaded.clear()
        run_pass("random-weights", randomized, random_targets, ["random-weights"],
                 "not explained by the trained model, so no target class")
        del randomized
    elif "random-weights" in requested:
        counts["resumed"] += len(shards)
    loaded.clear()
    _free_device_memory(device)

    tables = [stores[c].concat([s for s, _ in shards]) for c in requested]
    table = pd.concat([t for t in tables if len(t)], ignore_index=True) if any(
        len(t) for t in tables) else pd.DataFrame(columns=TABLE_COLUMNS)
    write_relevance(ctx.run, name, [(c, stores[c].folder, [s for s, _ in shards])
                                    for c in ("none", "random-weights") if c in requested],
                    items, frame[0])
    n_non_finite = int((~table["finite"].astype(bool)).sum()) if len(table) else 0
    return {"table": table, "failures": failures, "non_finite": n_non_finite,
            "non_finite_items": non_finite,
            "batch_size": attributor.batch_size, "halvings": attributor.halvings, **counts}


def write_relevance(run: RunDir, name: str, passes: list[tuple[str, Path, list[str]]],
                    items: pd.DataFrame, size: int) -> tuple[Path, Path]:
    """Assemble the shards' maps into ``relevance/<model>.npy`` and its index, atomically.

    The array is written through a memory map into a temporary file that is renamed
    into place, so memory stays bounded by one shard and readers never see a
    partial file.
    """
    image_of = dict(zip(items["item_id"], items["image_id"], strict=True))
    probe_of = dict(zip(items["item_id"], items["probe"], strict=True))
    parts: list[tuple[str, Path, Path]] = []
    total = 0
    for control, folder, shard_names in passes:
        for shard in shard_names:
            maps_path = folder / f"{shard}.maps.npy"
            index_path = folder / f"{shard}.mapindex.pq"
            if maps_path.exists() and index_path.exists():
                parts.append((control, maps_path, index_path))
                total += int(np.load(maps_path, mmap_mode="r").shape[0])
    destination = run.path("relevance", f"{safe_name(name)}.npy")
    index_rows: list[dict] = []
    with atomic_path(destination) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16,
                                          shape=(total, size, size))
        row = 0
        for control, maps_path, index_path in parts:
            maps = np.load(maps_path, mmap_mode="r")
            item_ids = pd.read_parquet(index_path)["item_id"].tolist()
            array[row:row + len(maps)] = maps
            for item_id in item_ids:
                index_rows.append({"image_id": image_of.get(item_id, item_id.split("/")[0]),
                                   "control": control, "row": row, "item_id": item_id,
                                   "probe": probe_of.get(item_id, "")})
                row += 1
        array.flush()
        del array
    index_path = run.path("relevance", f"{safe_name(name)}.index.parquet")
    index = pd.DataFrame(index_rows, columns=INDEX_COLUMNS)
    index["row"] = index["row"].astype("int64")
    write_table(index_path, index)
    return destination, index_path


def load_relevance(run: RunDir, model: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A model's stored relevance maps (memory-mapped, N×H×W float16) and their index."""
    path = run.path("relevance", f"{safe_name(model)}.npy")
    index_path = run.path("relevance", f"{safe_name(model)}.index.parquet")
    if not path.exists() or not index_path.exists():
        raise MissingInputError(f"{path}: missing; run `localglobal attribute --run {run.root}`")
    return np.load(path, mmap_mode="r"), pd.read_parquet(index_path)


# --------------------------------------------------------------------------- stage


def attribute_stage(ctx: Any) -> dict[str, Any]:
    """The ``attribute`` stage (see the module docstring).

    Returns:
        Summary: models attributed, items, rows, per-model counts, refused and failed
        models with reasons, skipped items, non-finite maps, device, seconds per item.
    """
    config = ctx.config
    settings = config.attribute
    if settings.composite not in COMPOSITES:
        raise ValueError(f"attribute.composite {settings.composite!r} is unknown; "
                         f"known: {', '.join(COMPOSITES)}")
    make_composite(settings.composite, epsilon=settings.epsilon)  # fail early on bad settings
    names = list(ctx.models or settings.models)
    device = choose_device(ctx.device or settings.device)
    items = attribution_items(ctx.run, settings.probes)
    missing_probes = sorted(set(settings.probes) - set(items["probe"]))
    if missing_probes:
        ctx.log(f"[yellow]attribute: no items of probe(s) {', '.join(missing_probes)} in "
                f"{ctx.run.table_path('perturbations')}[/yellow]")
    edges = EdgeMasks(ctx.run)
    crop = config.frame.crop
    if edges.shape != (crop, crop):
        edges.close()
        raise ValueError(f"{ctx.run.path('edges.npz')}: masks of {edges.shape[1]}×"
                         f"{edges.shape[0]} pixels, but the input frame is {crop}×{crop}; "
                         f"re-run `localglobal edges --run {ctx.run.root}`")
    skipped: list[dict] = []
    no_edges = ~items["image_id"].isin(edges.ids)
    for item_id in items.loc[no_edges, "item_id"]:
        skipped.append({"model": "*", "control": "*", "item_id": item_id,
                        "error": "no edge mask (the edges stage skipped its image)"})
    items = items[~no_edges].reset_index(drop=True)
    partner = derangement(items["image_id"].unique().tolist(),
                          {i: edges.shape for i in items["image_id"].unique()}, config.run.seed)
    if "shuffled-edges" in settings.controls:
        alone = sorted(set(items["image_id"]) - set(partner))
        for image_id in alone:
            skipped.append({"model": "*", "control": "shuffled-edges", "item_id": image_id,
                            "error": "no other image of the same size to take edges from"})

    started = time.perf_counter()
    tables, refused, failed, per_model, non_finite = [], {}, {}, {}, []
    workers = max(2, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="attribute") as pool:
        for name in names:
            try:
                outcome = attribute_model(ctx, name, items, edges, partner, device, pool)
            except ModelRefused as error:
                refused[name] = str(error)
                ctx.log(f"[yellow]attribute: refused {name}: {error}[/yellow]")
                continue
            except (KeyError, ValueError, OSError, RuntimeError, ImportError) as error:
                failed[name] = f"{type(error).__name__}: {error}"
                ctx.log(f"[red]attribute: {name} failed: {failed[name]}[/red]")
                continue
            tables.append(outcome["table"])
            skipped += outcome["failures"]
            non_finite += outcome["non_finite_items"]
            per_model[name] = {k: outcome[k] for k in
                               ("non_finite", "batch_size", "halvings", "computed", "resumed")}
            per_model[name]["rows"] = len(outcome["table"])
            if outcome["non_finite"]:
                ctx.log(f"[yellow]attribute {name}: {outcome['non_finite']} maps with NaN or "
                        f"infinite relevance, kept with NaN statistics[/yellow]")
    edges.close()
    seconds = time.perf_counter() - started
    if names and not tables:
        reasons = "; ".join(f"{k}: {v}" for k, v in {**refused, **failed}.items())
        raise RuntimeError(f"attribute: no model could be attributed ({reasons})")
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=TABLE_COLUMNS)
    table = _typed(table)
    ctx.run.write("attributions", table)
    attributed = len([n for n in names if n in per_model])
    summary = {
        "models": [n for n in names if n in per_model],
        "items": len(items),
        "missing_probes": missing_probes,
        "rows": len(table),
        "refused": refused,
        "failed": failed,
        "retry": bool(failed),  # a model that failed to load is tried again next time
        "skipped": len(skipped),
        "non_finite": int(sum(m["non_finite"] for m in per_model.values())),
        "device": str(device),
        "composite": settings.composite,
        "per_model": per_model,
        "seconds_per_item": round(seconds / max(1, len(items) * max(1, attributed)), 4),
    }
    write_json(ctx.run.path("attribute-report.json"),
               dict(summary, skipped_items=skipped, non_finite_items=non_finite))
    return summary


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table[TABLE_COLUMNS].copy()
    for column in ("model", "control", "image_id", "item_id", "probe", "variant"):
        table[column] = table[column].astype(str)
    for column in ("target", "level"):
        table[column] = table[column].astype("int64")
    table["finite"] = table["finite"].astype(bool)
    for column in STAT_COLUMNS:
        if column != "finite":
            table[column] = table[column].astype("float64")
    table["logit"] = table["logit"].astype("float64")
    return table.reset_index(drop=True)
