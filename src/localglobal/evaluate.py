"""The ``evaluate`` stage: every configured model on every perturbed image.

For each model the rows of ``perturbations.parquet`` are read in batches through a
:class:`torch.utils.data.DataLoader` (PNG decoding in worker processes), normalised
on the device with the model's own mean and standard deviation, and classified
under ``torch.inference_mode`` in channels-last memory (bfloat16 autocast on CUDA
when asked). Each row of ``predictions.parquet`` holds, for one (model, item):

- in the model's own label space: the true class's index, logit, softmax
  probability and rank (1 = the top class; ties count in the true class's favour),
  the predicted class, its logit and probability, and whether the true class is
  among the top five;
- restricted to the dataset's classes (``config.data.label_space``, e.g.
  Imagenette's ten, mapped into the model's space): the predicted class's index in
  the dataset's label space (``subset_pred_index``), and the true class's logit,
  softmax probability over only those classes, and rank among them.

Work is stored per (model, shard) so an interrupted run resumes; shards are keyed
by the model's spec and the perturbation table's content, so adding a model does
not redo the others. A model that cannot be loaded, or whose label space lacks the
images' classes, is reported (summary and ``evaluate-report.json``) while the
others still run.

With ``config.data.cue_conflict`` set, every model whose label space holds the
stimuli's classes also classifies the cue-conflict images, choosing among the
stimuli's classes, into ``cue_conflict_predictions.parquet``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from localglobal.data.classes import LabelSpace, get_label_space
from localglobal.executor import progress_bar
from localglobal.models.registry import ModelSpec, load_model, resolve_model
from localglobal.run import StageError
from localglobal.store import write_json, write_table

if TYPE_CHECKING:
    from localglobal.run import StageContext

PREDICTION_COLUMNS = [
    "model", "item_id", "true_index", "true_logit", "true_prob", "true_rank",
    "pred_index", "pred_logit", "pred_prob", "top5", "subset_pred_index", "subset_true_prob",
]
EXTRA_COLUMNS = [
    "image_id", "wnid", "probe", "level", "variant", "pred_wnid", "correct",
    "subset_pred_wnid", "subset_pred_prob", "subset_true_logit", "subset_true_rank",
    "subset_correct",
]
CUE_CONFLICT_COLUMNS = [
    "model", "path", "shape_wnid", "texture_wnid", "pred_wnid", "pred_index", "conflict",
    "top1_wnid",
]
CUE_CONFLICT_TABLE = "cue_conflict_predictions.parquet"
REPORT = "evaluate-report.json"
# Bump when the content of a shard changes meaning, so old shards are not mixed in.
SHARD_VERSION = 1


class LabelSpaceMismatch(ValueError):
    """Images whose class the model cannot predict; refused before inference."""


# --------------------------------------------------------------------------- device


def select_device(requested: str | None = "auto") -> torch.device:
    """The device to run on: ``auto`` picks CUDA, then MPS, then the CPU.

    Raises:
        ValueError: an explicitly requested device that is not available.
    """
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None \
            and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {requested!r} requested but only "
                         f"{torch.cuda.device_count()} CUDA device(s) exist")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} requested but MPS is not available")
    return device


# --------------------------------------------------------------------------- images


def decode_image(path: str | Path) -> np.ndarray:
    """Read an image file as an H×W×3 uint8 RGB array (OpenCV; PNG, JPEG, …).

    Only OpenCV's decoder runs (single-threaded), never its thread pool, so this is
    safe in forked DataLoader workers.

    Raises:
        ValueError: the file is missing or not a decodable image (naming it).
    """
    import cv2

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    image = cv2.imdecode(data, rgb_flag if rgb_flag is not None else cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a decodable image")
    return image if rgb_flag is not None else np.ascontiguousarray(image[..., ::-1])


def fit_image(image: np.ndarray, size: int, *, mode: str = "resize", resize: int | None = None,
              interpolation: str = "bilinear") -> np.ndarray:
    """Bring an RGB image to ``size`` × ``size`` pixels.

    Args:
        image: H×W×3 uint8.
        size: output side, pixels.
        mode: ``resize`` for images already in an input frame (a square whose side
            merely differs from the model's: resampled as a whole, nothing cut);
            ``frame`` for raw images (shorter side to ``resize``, centre crop, as
            torchvision does). An image already ``size`` × ``size`` is kept as is.
        resize: shorter side before the crop in ``frame`` mode (default ``size``).
        interpolation: ``bilinear``, ``bicubic`` or ``nearest``.

    Returns:
        ``size`` × ``size`` × 3 uint8 array.
    """
    from localglobal.data.geometry import to_input_frame

    height, width = image.shape[:2]
    if height == size and width == size:
        return image
    # torchvision's antialiased resize (PIL: no thread pool, safe in forked workers); in
    # resize mode a square is resampled whole, since it already is an input frame
    shorter = resize if mode == "frame" and resize else size
    return to_input_frame(image, resize=shorter, crop=size, interpolation=interpolation)


class ImageDataset(torch.utils.data.Dataset):
    """Image files as ``size`` × ``size`` × 3 uint8 tensors (H×W×C), by row number.

    Items are ``(row, image, error)``: a file that cannot be read gives a zero image
    and its error message instead of raising, so one bad file does not stop a batch;
    the caller reports and skips it. Normalisation happens on the device
    (:func:`normalize`), where uint8 batches are four times cheaper to move.
    """

    def __init__(self, paths: Sequence[str], size: int, *, mode: str = "resize",
                 resize: int | None = None, interpolation: str = "bilinear"):
        self.paths = [str(p) for p in paths]
        self.size = int(size)
        self.mode = mode
        self.resize = resize
        self.interpolation = interpolation

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor, str]:
        path = self.paths[row]
        try:
            image = fit_image(decode_image(path), self.size, mode=self.mode,
                              resize=self.resize, interpolation=self.interpolation)
        except Exception as error:  # reported per item by the caller
            return row, torch.zeros((self.size, self.size, 3), dtype=torch.uint8), str(error)
        return row, torch.from_numpy(np.require(image, requirements=["C", "W"])), ""


def normalize(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float], *,
              channels_last: bool = True) -> torch.Tensor:
    """Turn an N×H×W×3 uint8 batch into the model's N×3×H×W float input.

    Computes ``(x / 255 - mean) / std`` per channel in float32 on the batch's
    device. With ``channels_last`` the result keeps the NHWC memory layout (a view
    of the same order the images arrived in), which convolutions prefer.
    """
    x = batch.permute(0, 3, 1, 2).float()
    if not channels_last:
        x = x.contiguous()
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.div_(255.0).sub_(mean_t).div_(std_t)


class _BatchPlan(torch.utils.data.Sampler):
    """A batch sampler whose batches are set before each pass, so that one loader
    (and its persistent workers) serves every model."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(list(self.batches))

    def __len__(self) -> int:
        return len(self.batches)


def _worker_init(_: int) -> None:
    # The workers are the parallelism: one torch thread each. OpenCV's thread pool is
    # left alone: reconfiguring it (cv2.setNumThreads) in a forked child can deadlock
    # on the parent's pool state, and decoding never uses it.
    torch.set_num_threads(1)


def loader_worker_count(configured: int | None, device: torch.device) -> int:
    """How many processes decode images for the model.

    Decoding a 224-pixel PNG takes about a millisecond, a CPU forward pass of a
    ResNet-50 about a hundred: on CPU, worker processes only take cores from the
    model, so images are decoded in the main process. An accelerator leaves the cores
    free, and then up to four workers keep it fed.
    """
    if configured is not None:
        return configured
    if device.type == "cpu":
        return 0
    return min(4, os.cpu_count() or 1)


@dataclass
class _Loader:
    loader: torch.utils.data.DataLoader
    plan: _BatchPlan

    def run(self, batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor, list]]:
        self.plan.batches = batches
        yield from self.loader


def make_loader(dataset: ImageDataset, *, workers: int, device: torch.device,
                persistent: bool = True) -> _Loader:
    """A DataLoader over ``dataset`` whose batches are chosen per pass (see ``run``)."""
    plan = _BatchPlan()
    options: dict[str, Any] = {}
    if workers > 0:
        options = {"worker_init_fn": _worker_init, "persistent_workers": persistent,
                   "prefetch_factor": 4}
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=plan, num_workers=workers,
        pin_memory=device.type == "cuda", **options)
    return _Loader(loader, plan)


# --------------------------------------------------------------------------- scoring


def score_logits(logits: torch.Tensor, true_index: torch.Tensor,
                 subset_index: torch.Tensor) -> dict[str, np.ndarray]:
    """Decisions of a batch of logits, in the model's space and within a class subset.

    Args:
        logits: N×C float logits in the model's label space.
        true_index: N int64, each item's true class in the model's space.
        subset_index: K int64, the model-space indices of the dataset's classes, in
            the dataset's order (position k is class k of the dataset's space).

    Returns:
        Arrays of length N: ``true_logit``, ``true_prob`` (softmax over all C),
        ``true_rank`` (1 + the number of classes with a strictly larger logit),
        ``pred_index``, ``pred_logit``, ``pred_prob``, ``top5`` (true_rank ≤ 5);
        and within the subset: ``subset_pred_index`` (position in the subset),
        ``subset_pred_prob`` and ``subset_true_prob`` (softmax over the K subset
        logits only), ``subset_true_logit`` and ``subset_true_rank``. Items whose true
        class is not in the subset get NaN subset-true values and rank 0.
    """
    logits = logits.float()
    true_index = true_index.to(logits.device)
    subset_index = subset_index.to(logits.device)
    probs = torch.softmax(logits, dim=1)
    true_logit = logits.gather(1, true_index[:, None])[:, 0]
    true_prob = probs.gather(1, true_index[:, None])[:, 0]
    true_rank = (logits > true_logit[:, None]).sum(dim=1) + 1
    pred_logit, pred_index = logits.max(dim=1)
    pred_prob = probs.gather(1, pred_index[:, None])[:, 0]

    sub_logits = logits.index_select(1, subset_index)
    sub_probs = torch.softmax(sub_logits, dim=1)
    sub_pred_prob, sub_pred = sub_probs.max(dim=1)
    matches = true_index[:, None] == subset_index[None, :]
    in_subset = matches.any(dim=1)
    position = matches.float().argmax(dim=1)
    sub_true_prob = sub_probs.gather(1, position[:, None])[:, 0]
    sub_true_rank = (sub_logits > true_logit[:, None]).sum(dim=1) + 1
    nan = torch.tensor(float("nan"), device=logits.device)
    out = {
        "true_logit": true_logit,
        "true_prob": true_prob,
        "true_rank": true_rank,
        "pred_index": pred_index,
        "pred_logit": pred_logit,
        "pred_prob": pred_prob,
        "top5": true_rank <= 5,
        "subset_pred_index": sub_pred,
        "subset_pred_prob": sub_pred_prob,
        "subset_true_prob": torch.where(in_subset, sub_true_prob, nan),
        "subset_true_logit": torch.where(in_subset, true_logit, nan),
        "subset_true_rank": torch.where(in_subset, sub_true_rank, torch.zeros_like(sub_true_rank)),
    }
    return {key: value.cpu().numpy() for key, value in out.items()}


# --------------------------------------------------------------------------- inference


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    import contextlib

    return contextlib.nullcontext()


def _prepare(model: torch.nn.Module, device: torch.device, channels_last: bool):
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model


def infer(model: torch.nn.Module, loader: _Loader, batches: list[list[int]], spec: ModelSpec,
          device: torch.device, *, channels_last: bool = True, bf16: bool = False,
          ) -> Iterator[tuple[np.ndarray, torch.Tensor, list[tuple[int, str]]]]:
    """Run ``model`` over the given batches of dataset rows.

    Yields, per batch: the rows that were read (int array), their N×C float32
    logits (on ``device``), and ``(row, error)`` for the rows that could not be read.
    """
    with torch.inference_mode():
        for rows, images, errors in loader.run(batches):
            rows_np = rows.numpy()
            bad = [(int(r), e) for r, e in zip(rows_np, errors, strict=True) if e]
            if bad:
                keep = torch.tensor([not e for e in errors])
                rows_np, images = rows_np[keep.numpy()], images[keep]
            if len(rows_np) == 0:
                yield rows_np, torch.empty((0, 0), device=device), bad
                continue
            x = normalize(images.to(device, non_blocking=True), spec.mean, spec.std,
                          channels_last=channels_last)
            with _autocast(device, bf16):
                logits = model(x)
            yield rows_np, logits.float(), bad


# --------------------------------------------------------------------------- the stage


def _table_identity(table: pd.DataFrame) -> str:
    """A content hash of a table (values only, independent of file metadata)."""
    hashed = pd.util.hash_pandas_object(table.astype(str), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(table.columns).encode()).hexdigest()


def _shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + shard_size, n)) for start in range(0, n, shard_size)]


def _batches_over(rows: list[int], batch_size: int) -> list[list[int]]:
    return [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]


def check_label_space(spec: ModelSpec, model_space: LabelSpace, wnids: Sequence[str]) -> None:
    """Refuse items whose class the model cannot predict.

    Raises:
        LabelSpaceMismatch: naming the model, its label space, the foreign classes
            and how many items carry them.
    """
    counts = pd.Series(list(wnids)).value_counts()
    foreign = [w for w in counts.index if w not in model_space]
    if foreign:
        n_items = int(counts[foreign].sum())
        raise LabelSpaceMismatch(
            f"model {spec.name!r} (label space {model_space.name!r}, {len(model_space)} "
            f"classes) cannot score {n_items} item(s): their classes "
            f"{', '.join(sorted(foreign)[:10])}{' …' if len(foreign) > 10 else ''} are not "
            f"in its label space; refused before inference")


def _check_outputs(spec: ModelSpec, logits: torch.Tensor, model_space: LabelSpace) -> None:
    if logits.numel() and logits.shape[1] != len(model_space):
        raise ValueError(
            f"model {spec.name!r} outputs {logits.shape[1]} logits but its label space "
            f"{model_space.name!r} has {len(model_space)} classes; set label_space in "
            f"[models.{spec.name}] to the space its outputs are in")


def _subset_for(model_space: LabelSpace, dataset_space: LabelSpace) -> tuple[list[int], list[str]]:
    """Model-space indices and wnids of the dataset's classes the model knows, in dataset
    order."""
    wnids = [w for w in dataset_space.wnids if w in model_space]
    return [model_space.index_of(w) for w in wnids], wnids


@dataclass
class _ModelRun:
    """What happened to one model, for the report."""

    name: str
    status: str = "ok"
    error: str | None = None
    items: int = 0
    failed_items: list[dict[str, str]] = field(default_factory=list)
    shards_computed: int = 0
    shards_resumed: int = 0
    seconds: float = 0.0
    images_per_second: float | None = None
    cue_conflict: str | None = None


def _prediction_frame(rows: np.ndarray, scores: dict[str, np.ndarray], items: pd.DataFrame,
                      name: str, model_space: LabelSpace, subset_wnids: list[str],
                      dataset_space: LabelSpace) -> pd.DataFrame:
    part = items.iloc[rows]
    frame = pd.DataFrame({
        "model": name,
        "item_id": part["item_id"].to_numpy(),
        "image_id": part["image_id"].to_numpy(),
        "wnid": part["wnid"].to_numpy(),
        "probe": part["probe"].to_numpy(),
        "level": part["level"].to_numpy().astype(np.int64),
        "variant": part["variant"].astype(str).to_numpy(),
        "true_index": part["true_index"].to_numpy().astype(np.int64),
        "true_logit": scores["true_logit"].astype(np.float64),
        "true_prob": scores["true_prob"].astype(np.float64),
        "true_rank": scores["true_rank"].astype(np.int64),
        "pred_index": scores["pred_index"].astype(np.int64),
        "pred_logit": scores["pred_logit"].astype(np.float64),
        "pred_prob": scores["pred_prob"].astype(np.float64),
        "top5": scores["top5"].astype(bool),
    })
    frame["pred_wnid"] = [model_space.wnids[i] for i in frame["pred_index"]]
    frame["correct"] = frame["pred_index"] == frame["true_index"]
    chosen = [subset_wnids[i] for i in scores["subset_pred_index"]]
    frame["subset_pred_index"] = np.asarray([dataset_space.index_of(w) for w in chosen],
                                            dtype=np.int64)
    frame["subset_pred_wnid"] = chosen
    frame["subset_pred_prob"] = scores["subset_pred_prob"].astype(np.float64)
    frame["subset_true_prob"] = scores["subset_true_prob"].astype(np.float64)
    frame["subset_true_logit"] = scores["subset_true_logit"].astype(np.float64)
    frame["subset_true_rank"] = scores["subset_true_rank"].astype(np.int64)
    frame["subset_correct"] = frame["subset_pred_wnid"] == frame["wnid"]
    return frame[PREDICTION_COLUMNS + EXTRA_COLUMNS]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def evaluate_stage(ctx: StageContext) -> dict[str, Any]:
    """Run every model on every perturbed image; write ``predictions.parquet``.

    Reads ``perturbations.parquet`` (and the images it lists) from the run
    directory; models come from ``ctx.models`` or ``config.evaluate.models``, the
    device from ``ctx.device`` or ``config.evaluate.device``. Also writes
    ``evaluate-report.json`` (per model: status, error, counts, speed, failed items)
    and, with ``config.data.cue_conflict`` set, ``cue_conflict_predictions.parquet``.

    Returns:
        Summary counts: models, models_failed, items, predictions, items_failed,
        shards_computed, shards_resumed, device, and ``failed`` (model → reason).

    Raises:
        UnknownModelError: a model name that resolves to nothing (before any work).
        ValueError: images whose class is not in ``config.data.label_space``, or an
            unavailable device.
        StageError: every model failed (the message lists why).
    """
    config = ctx.config
    names = list(dict.fromkeys(ctx.models or config.evaluate.models))
    if not names:
        raise ValueError("no models to evaluate: set evaluate.models or pass --models")
    items = ctx.run.read("perturbations").reset_index(drop=True)
    missing_columns = {"item_id", "image_id", "wnid", "probe", "level", "variant",
                       "path"} - set(items.columns)
    if missing_columns:
        raise ValueError(f"{ctx.run.table_path('perturbations')}: missing columns "
                         f"{sorted(missing_columns)}")
    dataset_space = get_label_space(config.data.label_space)
    outside = sorted(set(items["wnid"]) - set(dataset_space.wnids))
    if outside:
        raise ValueError(
            f"{ctx.run.table_path('perturbations')}: classes {', '.join(outside[:10])} are not "
            f"in the dataset's label space {dataset_space.name!r} (data.label_space)")
    specs = {name: resolve_model(name, config) for name in names}
    evaluation = _Evaluation(ctx, items, dataset_space)
    if config.evaluate.bf16 and not evaluation.bf16:
        ctx.log(f"[yellow]evaluate: bf16 autocast applies on CUDA only; running float32 on "
                f"{evaluation.device}[/yellow]")

    runs: list[_ModelRun] = []
    tables: list[pd.DataFrame] = []
    cue_tables: list[pd.DataFrame] = []
    try:
        for name, spec in specs.items():
            record = _ModelRun(name)
            runs.append(record)
            started = time.perf_counter()
            try:
                table, cue = evaluation.run_model(spec, record)
            except Exception as error:  # reported; the other models still run
                record.status = "refused" if isinstance(error, LabelSpaceMismatch) else "failed"
                record.error = f"{type(error).__name__}: {error}"
                ctx.log(f"[red]evaluate: {name} {record.status}: {error}[/red]")
                continue
            finally:
                record.seconds = round(time.perf_counter() - started, 3)
                if evaluation.device.type == "cuda":
                    torch.cuda.empty_cache()
            tables.append(table)
            if cue is not None:
                cue_tables.append(cue)
    finally:
        evaluation.close()

    ok = [r for r in runs if r.status == "ok"]
    failed = {r.name: r.error for r in runs if r.status != "ok"}
    report: dict[str, Any] = {
        "device": str(evaluation.device),
        "bf16": evaluation.bf16,
        "items": len(items),
        "label_space": dataset_space.name,
        "models": {r.name: {**asdict(r), "spec": asdict(specs[r.name])} for r in runs},
    }
    if evaluation.stimuli is not None:
        report["cue_conflict"] = {"folder": str(config.data.cue_conflict),
                                  "stimuli": len(evaluation.stimuli[0])}
    write_json(ctx.run.path(REPORT), report)
    if not ok:
        raise StageError("evaluate: every model failed:\n" + "\n".join(
            f"  {name}: {error}" for name, error in failed.items()))
    predictions = pd.concat(tables, ignore_index=True)
    ctx.run.write("predictions", predictions)
    summary: dict[str, Any] = {
        "models": len(ok),
        "models_failed": len(failed),
        "items": len(items),
        "predictions": len(predictions),
        "items_failed": sum(len(r.failed_items) for r in runs),
        "shards_computed": sum(r.shards_computed for r in runs),
        "shards_resumed": sum(r.shards_resumed for r in runs),
        "device": str(evaluation.device),
    }
    if failed:
        summary["failed"] = failed
        summary["retry"] = True  # a model that failed to load is tried again next time
    if evaluation.stimuli is not None:
        cue = pd.concat(cue_tables, ignore_index=True) if cue_tables else \
            _empty(CUE_CONFLICT_COLUMNS)
        write_table(ctx.run.path(CUE_CONFLICT_TABLE), cue)
        summary["cue_conflict_predictions"] = len(cue)
    return summary


class _Evaluation:
    """State shared by every model of one stage run: items, device, loaders, settings."""

    def __init__(self, ctx: StageContext, items: pd.DataFrame, dataset_space: LabelSpace):
        settings = ctx.config.evaluate
        self.ctx = ctx
        self.items = items
        self.dataset_space = dataset_space
        self.device = select_device(ctx.device or settings.device)
        self.bf16 = bool(settings.bf16 and self.device.type == "cuda")
        self.batch_size = settings.batch_size
        self.channels_last = settings.channels_last
        self.workers = loader_worker_count(settings.loader_workers, self.device)
        self.shard_size = ctx.config.run.shard_size
        self.identity = _table_identity(items[["item_id", "wnid", "path"]])
        self.paths = [str(ctx.run.path(p)) for p in items["path"]]
        cue_folder = ctx.config.data.cue_conflict
        self.stimuli = _read_stimuli(cue_folder) if cue_folder else None
        self._loaders: dict[int, _Loader] = {}

    def loader(self, size: int) -> _Loader:
        """One loader (persistent workers) per input size, shared by the models."""
        if size not in self._loaders:
            dataset = ImageDataset(self.paths, size, mode="resize")
            self._loaders[size] = make_loader(dataset, workers=self.workers, device=self.device)
        return self._loaders[size]

    def close(self) -> None:
        self._loaders.clear()

    def infer(self, model: torch.nn.Module, loader: _Loader, rows: list[int], spec: ModelSpec):
        return infer(model, loader, _batches_over(rows, self.batch_size), spec, self.device,
                     channels_last=self.channels_last, bf16=self.bf16)

    def run_model(self, spec: ModelSpec, record: _ModelRun
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Predictions of one model (finished shards reused) and its cue-conflict table."""
        model_space = get_label_space(spec.label_space)
        check_label_space(spec, model_space, self.items["wnid"].tolist())
        items = self.items.assign(true_index=[model_space.index_of(w)
                                              for w in self.items["wnid"]])
        store = self.ctx.shards(model=spec.fingerprint(), perturbations=self.identity,
                                dataset_classes=list(self.dataset_space.wnids), bf16=self.bf16,
                                version=SHARD_VERSION)
        bounds = _shard_bounds(len(items), self.shard_size)
        names = [f"{k:06d}" for k in range(len(bounds))]
        pending = [k for k, name in enumerate(names) if not store.done(name)]
        record.shards_resumed = len(bounds) - len(pending)

        cue_store = None
        if self.stimuli is not None:
            cue_store = self._cue_conflict_store(spec, model_space, record)
        cue_pending = cue_store is not None and not cue_store.done("cue-conflict")

        model = None
        if pending or cue_pending:
            model = _prepare(load_model(spec, device="cpu"), self.device, self.channels_last)
        if pending:
            self._run_shards(spec, model, items, model_space, store, bounds, names, pending,
                             record)
        failed = [store.get(f"{n}-failed") for n in names if store.done(f"{n}-failed")]
        record.failed_items = pd.concat(failed).to_dict("records") if failed else []
        finished = [table for table in (store.get(n) for n in names) if len(table)]
        table = pd.concat(finished, ignore_index=True) if finished else \
            _empty(PREDICTION_COLUMNS + EXTRA_COLUMNS)
        record.items = len(table)

        cue = None
        if cue_store is not None:
            if cue_pending:
                self._run_cue_conflict(spec, model, model_space, cue_store, record)
            cue = cue_store.get("cue-conflict")
        return table, cue

    def _run_shards(self, spec: ModelSpec, model: torch.nn.Module, items: pd.DataFrame,
                    model_space: LabelSpace, store: Any, bounds: list[tuple[int, int]],
                    names: list[str], pending: list[int], record: _ModelRun) -> None:
        subset_index, subset_wnids = _subset_for(model_space, self.dataset_space)
        subset_t = torch.as_tensor(subset_index, dtype=torch.int64)
        true_all = torch.tensor(items["true_index"].to_numpy(), dtype=torch.int64)
        shard_of = np.empty(len(items), dtype=np.int64)
        for k, (start, stop) in enumerate(bounds):
            shard_of[start:stop] = k
        rows = [r for k in pending for r in range(*bounds[k])]
        remaining = {k: bounds[k][1] - bounds[k][0] for k in pending}
        parts: dict[int, list[pd.DataFrame]] = {k: [] for k in pending}
        bad: dict[int, list[dict[str, str]]] = {k: [] for k in pending}
        loader = self.loader(spec.crop)
        started, n_images = time.perf_counter(), 0
        with progress_bar() as bar:
            task = bar.add_task(f"evaluate {spec.name}", total=len(rows))
            for batch_rows, logits, errors in self.infer(model, loader, rows, spec):
                _check_outputs(spec, logits, model_space)
                for row, message in errors:
                    bad[int(shard_of[row])].append(
                        {"item_id": str(items.at[row, "item_id"]), "error": message})
                if len(batch_rows):
                    scores = score_logits(logits, true_all[batch_rows], subset_t)
                    frame = _prediction_frame(batch_rows, scores, items, spec.name, model_space,
                                              subset_wnids, self.dataset_space)
                    for k, part in frame.groupby(shard_of[batch_rows], sort=True):
                        parts[int(k)].append(part)
                n_images += len(batch_rows)
                for row in [*batch_rows.tolist(), *(r for r, _ in errors)]:
                    remaining[int(shard_of[row])] -= 1
                for k in [k for k, left in remaining.items() if left == 0]:
                    # failures first: a shard that exists is finished, with its failures
                    if bad[k]:
                        store.put(f"{names[k]}-failed", pd.DataFrame(bad[k]))
                    store.put(names[k], pd.concat(parts[k], ignore_index=True) if parts[k]
                              else _empty(PREDICTION_COLUMNS + EXTRA_COLUMNS))
                    record.shards_computed += 1
                    del remaining[k], parts[k], bad[k]
                bar.advance(task, len(batch_rows) + len(errors))
        elapsed = time.perf_counter() - started
        record.images_per_second = round(n_images / elapsed, 2) if elapsed > 0 else None

    def _cue_conflict_store(self, spec: ModelSpec, model_space: LabelSpace, record: _ModelRun):
        table, identity = self.stimuli  # type: ignore[misc]
        classes = sorted(set(table["shape_wnid"]) | set(table["texture_wnid"]))
        lacking = [w for w in classes if w not in model_space]
        if lacking:
            record.cue_conflict = (f"skipped: label space {model_space.name!r} lacks "
                                   f"{', '.join(lacking[:5])}")
            return None
        return self.ctx.shards(model=spec.fingerprint(), cue_conflict=identity, bf16=self.bf16,
                               version=SHARD_VERSION)

    def _run_cue_conflict(self, spec: ModelSpec, model: torch.nn.Module,
                          model_space: LabelSpace, store: Any, record: _ModelRun) -> None:
        table, _ = self.stimuli  # type: ignore[misc]
        classes = sorted({*table["shape_wnid"], *table["texture_wnid"]},
                         key=model_space.index_of)
        class_index = torch.as_tensor([model_space.index_of(w) for w in classes])
        dataset = ImageDataset(table["file"].tolist(), spec.crop, mode="frame",
                               resize=spec.resize, interpolation=spec.interpolation)
        loader = make_loader(dataset, workers=0, device=self.device, persistent=False)
        frames, failures = [], []
        for rows, logits, errors in self.infer(model, loader, list(range(len(table))), spec):
            failures += [{"path": table.at[r, "path"], "error": e} for r, e in errors]
            if not len(rows):
                continue
            _check_outputs(spec, logits, model_space)
            chosen = logits.index_select(1, class_index.to(logits.device)).argmax(dim=1).cpu()
            top1 = logits.argmax(dim=1).cpu().numpy()
            part = table.iloc[rows]
            frames.append(pd.DataFrame({
                "model": spec.name,
                "path": part["path"].to_numpy(),
                "shape_wnid": part["shape_wnid"].to_numpy(),
                "texture_wnid": part["texture_wnid"].to_numpy(),
                "pred_wnid": [classes[i] for i in chosen.numpy()],
                "pred_index": class_index[chosen].numpy().astype(np.int64),
                "conflict": (part["shape_wnid"] != part["texture_wnid"]).to_numpy(),
                "top1_wnid": [model_space.wnids[i] for i in top1],
            }))
        result = pd.concat(frames, ignore_index=True) if frames else _empty(CUE_CONFLICT_COLUMNS)
        store.put("cue-conflict", result)
        record.cue_conflict = f"{len(result)} stimuli"
        if failures:
            record.failed_items += failures
            record.cue_conflict += f", {len(failures)} unreadable"


# --------------------------------------------------------------------------- cue conflict


def _read_stimuli(folder: str) -> tuple[pd.DataFrame, str]:
    """The cue-conflict table (absolute paths) and a content identity of the set."""
    root = Path(folder).expanduser()
    csv = root / "stimuli.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"{csv}: no such file (data.cue_conflict needs a folder with "
                                "stimuli.csv: path, shape_wnid, texture_wnid)")
    table = pd.read_csv(csv, dtype=str)
    missing = {"path", "shape_wnid", "texture_wnid"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv}: missing columns {sorted(missing)}")
    digest = hashlib.sha256(csv.read_bytes())
    for relative in table["path"]:
        path = root / relative
        if path.is_file():
            stat = path.stat()
            digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    table = table.assign(file=[str(root / p) for p in table["path"]])
    return table, digest.hexdigest()


__all__ = [
    "CUE_CONFLICT_COLUMNS",
    "PREDICTION_COLUMNS",
    "ImageDataset",
    "LabelSpaceMismatch",
    "check_label_space",
    "decode_image",
    "evaluate_stage",
    "fit_image",
    "infer",
    "make_loader",
    "normalize",
    "score_logits",
    "select_device",
]
