"""Training of the two toy models that ship with the package.

``toy-texture`` sees objects whose texture is always their class's own family
(``texture_match = 1``): texture and shape both predict the class, and texture, the
local and easier cue, wins, as it does for ImageNet-trained networks.
``toy-shape`` sees objects filled with a texture drawn at random (``texture_match =
0``), so only the silhouette predicts the class, as Stylized-ImageNet forces it.

Training images are rendered in memory through the same path as the written world
(render at the world's image sizes, JPEG round trip, torchvision Resize + CenterCrop
into the 224-pixel input frame, ImageNet mean/std). Each model's record
(``<name>.json`` beside its weights) holds the training configuration, seed, epochs,
validation accuracy, shape bias on a cue-conflict set, time and versions.

>>> paths = train_models()          # doctest: +SKIP  (about ten minutes on two cores)
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from localglobal.io.images import to_input_frame
from localglobal.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalise
from localglobal.toyworld.build import WorldConfig, build_world, read_stimuli
from localglobal.toyworld.model import DEFAULT_BLOCKS, DEFAULT_WIDTHS, toy_resnet
from localglobal.toyworld.scenes import NUM_CLASSES, draw_texture_class, render_image

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class TrainConfig:
    """How one toy model is trained.

    Attributes
    ----------
    name : str
        Model name (``toy-texture``); also the weights' file stem.
    texture_match : float
        Probability that an object's texture is its class's own family.
    seed : int
        Seed of the rendering and of the initialisation and batch order.
    train_images : int
        Training images rendered per epoch round (see ``refresh``).
    val_images : int
        Validation images, rendered with the same ``texture_match``.
    epochs : int
        Passes over the training images.
    refresh : int
        Render a fresh training set every this many epochs (0: never).
    batch_size : int
        Images per step.
    crop_scale : tuple[float, float]
        Area range of the random resized crop (``(1, 1)``: no crop).
    low_res, low_res_epochs : int
        Progressive resizing: the first ``low_res_epochs``
        epochs see the frames downscaled to ``low_res`` pixels (a quarter of the
        cost at half the side), the rest the full frame.
    lr : float
        Peak learning rate of AdamW (one-cycle schedule).
    weight_decay : float
        AdamW weight decay.
    widths, blocks : tuple[int, ...]
        The architecture (:func:`~localglobal.toyworld.model.toy_resnet`).
    threads : int
        Torch threads (0 keeps torch's choice) and rendering processes.
    world : WorldConfig
        Image sizes, frame and JPEG quality of the rendered images (its
        ``texture_match`` and image counts are not used: ``texture_match`` above
        decides, and images are rendered in memory).
    """

    name: str
    texture_match: float
    seed: int = 0
    train_images: int = 2000
    val_images: int = 500
    epochs: int = 4
    refresh: int = 1
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    blocks: tuple[int, ...] = DEFAULT_BLOCKS
    crop_scale: tuple[float, float] = (1.0, 1.0)
    low_res: int = 0
    low_res_epochs: int = 0
    threads: int = 2
    world: WorldConfig = field(default_factory=WorldConfig)


DEFAULT_MODELS: tuple[TrainConfig, ...] = (
    # The ImageNet recipe: random resized crops over the standard area range, which
    # show parts of objects and favour the local cue (Hermann et al. 2020).
    TrainConfig(name="toy-texture", texture_match=1.0, seed=1, epochs=6, train_images=2500,
                refresh=0, crop_scale=(0.08, 1.0)),
    # Texture is noise here and the silhouette is the only cue, so no crops (they cut
    # silhouettes); fresh images every epoch (silhouettes are learned slowly and a
    # fixed set is memorised) and progressive resizing (128 then 224 pixels) to fit
    # the extra steps into the time budget.
    TrainConfig(name="toy-shape", texture_match=0.0, seed=2, epochs=12, train_images=3000,
                refresh=1, low_res=128, low_res_epochs=10),
)


def _log(message: str) -> None:
    """Progress lines go to stderr at once (training runs for minutes)."""
    print(message, file=sys.stderr, flush=True)


def _normalise(batch: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×H×W → float32, ImageNet mean/std."""
    return normalise(batch.permute(0, 2, 3, 1), IMAGENET_MEAN, IMAGENET_STD)


def _render_chunk(task: tuple[tuple[int, ...], int, int, float, WorldConfig]):
    seed, start, stop, texture_match, world = task
    frames = np.empty((stop - start, 3, world.crop, world.crop), dtype=np.uint8)
    labels = np.arange(start, stop, dtype=np.int64) % NUM_CLASSES
    for row, number in enumerate(range(start, stop)):
        rng = np.random.default_rng([*seed, number])
        shape = int(labels[row])
        texture = draw_texture_class(rng, shape, texture_match)
        width, height = world.sizes[int(rng.integers(len(world.sizes)))]
        rgb, _box = render_image(rng, shape, texture, (width, height),
                                 resize=world.resize, crop=world.crop)
        ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1],
                                   [cv2.IMWRITE_JPEG_QUALITY, world.jpeg_quality])
        if not ok:  # pragma: no cover - OpenCV always encodes a valid array
            raise RuntimeError("JPEG encoding failed")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
        frames[row] = to_input_frame(decoded, world.resize, world.crop).transpose(2, 0, 1)
    return start, frames, labels


def render_frames(seed: int | tuple[int, ...], count: int, texture_match: float,
                  world: WorldConfig, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Render labelled images straight into the model-input frame.

    Each image goes through the written world's path: rendered at one of the world's
    sizes, JPEG-encoded at its quality, decoded, resized and centre-cropped.

    Parameters
    ----------
    seed : int | tuple[int, ...]
        Seed (or seed sequence) of the images; image i has its own generator,
        so the result does not depend on ``workers``.
    count : int
        Number of images; classes cycle so each has ``count / 10``.
    texture_match : float
        Probability that the texture is the class's own family.
    world : WorldConfig
        Image sizes, frame and JPEG quality.
    workers : int
        Processes that render in parallel.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        ``(frames, labels)``: count×3×crop×crop uint8 and count int64 class indices.
    """
    from localglobal.pipeline.executors import parallel_map

    seed = tuple(seed) if isinstance(seed, tuple | list) else (int(seed),)
    frames = np.empty((count, 3, world.crop, world.crop), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    chunk = 100
    tasks = [(seed, start, min(start + chunk, count), texture_match, world)
             for start in range(0, count, chunk)]
    for start, part, part_labels in parallel_map(_render_chunk, tasks, workers=workers,
                                                 description="rendering"):
        frames[start:start + len(part)] = part
        labels[start:start + len(part)] = part_labels
    return frames, labels


def _augment(batch: torch.Tensor, generator: torch.Generator,
             crop_scale: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """Random resized crop per image, then a random flip and quarter turn of the batch.

    The crop is torchvision's ``RandomResizedCrop`` (area fraction in ``crop_scale``,
    aspect ratio in [3/4, 4/3], bilinear back to the input size), the standard
    ImageNet augmentation; the classes are invariant to flips and quarter turns.

    Parameters
    ----------
    batch : torch.Tensor
        N×3×H×W float images.
    generator : torch.Generator
        Torch random generator.
    crop_scale : tuple[float, float]
        Range of the crop's area as a fraction of the image's.
    """
    n, _, height, width = batch.shape
    if crop_scale[0] < 1.0:
        out = torch.empty_like(batch)
        for i in range(n):
            area = height * width * float(torch.empty(1).uniform_(*crop_scale,
                                                                   generator=generator))
            log_ratio = float(torch.empty(1).uniform_(-0.2877, 0.2877, generator=generator))
            ratio = float(np.exp(log_ratio))
            w = round(min(width, np.sqrt(area * ratio)))
            h = round(min(height, np.sqrt(area / ratio)))
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            crop = batch[i:i + 1, :, top:top + h, left:left + w]
            out[i:i + 1] = nn.functional.interpolate(crop, size=(height, width),
                                                     mode="bilinear", align_corners=False)
        batch = out
    if torch.rand(1, generator=generator).item() < 0.5:
        batch = batch.flip(-1)
    turns = int(torch.randint(0, 4, (1,), generator=generator).item())
    return torch.rot90(batch, turns, dims=(-2, -1)) if turns else batch


@torch.no_grad()
def _downscale(batch: torch.Tensor, size: int) -> torch.Tensor:
    return nn.functional.interpolate(batch, size=(size, size), mode="bilinear",
                                     antialias=True, align_corners=False)


def predict(model: nn.Module, frames: np.ndarray, batch_size: int = 100,
            size: int | None = None) -> np.ndarray:
    """Predicted class of each frame (N×3×H×W uint8) by a model in eval mode.

    ``size`` downscales the frames to ``size`` × ``size`` pixels first.
    """
    model.eval()
    out = []
    for start in range(0, len(frames), batch_size):
        batch = _normalise(torch.from_numpy(frames[start:start + batch_size]))
        if size is not None and size != batch.shape[-1]:
            batch = _downscale(batch, size)
        out.append(model(batch).argmax(1).numpy())
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def shape_bias(predicted: np.ndarray, shape_index: np.ndarray,
               texture_index: np.ndarray) -> dict[str, float | int]:
    """Geirhos's shape bias: shape decisions / (shape + texture decisions).

    Decisions for any other class are ignored. Returns ``n``, ``n_shape``,
    ``n_texture`` and ``shape_bias`` (NaN when there are no shape or texture decisions).
    """
    n_shape = int(np.sum(predicted == shape_index))
    n_texture = int(np.sum(predicted == texture_index))
    total = n_shape + n_texture
    return {"n": len(predicted), "n_shape": n_shape, "n_texture": n_texture,
            "shape_bias": n_shape / total if total else float("nan")}


def evaluate_world(model: nn.Module, world_dir: Path, world: WorldConfig) -> dict[str, float]:
    """Accuracy on a written world's ``val`` split and shape bias on its cue-conflict set.

    Images are read from disk and put through torchvision's Resize + CenterCrop, exactly
    as the pipeline's ``evaluate`` stage does.
    """
    from localglobal.toyworld.scenes import class_ids

    ids = class_ids()
    frames, labels = [], []
    for k, wnid in enumerate(ids):
        for path in sorted((world_dir / "val" / wnid).glob("*.JPEG")):
            frames.append(_read_frame(path, world))
            labels.append(k)
    result: dict[str, float] = {}
    if frames:
        predicted = predict(model, np.stack(frames))
        result["world_val_accuracy"] = float(np.mean(predicted == np.array(labels)))
        result["world_val_images"] = len(frames)
    stimuli = read_stimuli(world_dir / "cue-conflict")
    if len(stimuli):
        cue_frames = np.stack([_read_frame(world_dir / "cue-conflict" / p, world)
                               for p in stimuli["path"]])
        predicted = predict(model, cue_frames)
        bias = shape_bias(predicted, stimuli["shape_wnid"].map(ids.index).to_numpy(),
                          stimuli["texture_wnid"].map(ids.index).to_numpy())
        result.update({f"cue_conflict_{k}": v for k, v in bias.items()})
    return result


def _read_frame(path: Path, world: WorldConfig) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return to_input_frame(bgr[..., ::-1], world.resize, world.crop).transpose(2, 0, 1)


def train_one(config: TrainConfig, log: Callable[[str], None] = _log) -> tuple[nn.Module, dict]:
    """Train one toy model; return it (eval mode) and its training record.

    Deterministic for a given configuration, torch version and thread count.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.perf_counter()
    model = toy_resnet(NUM_CLASSES, widths=config.widths, blocks=config.blocks)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = config.train_images // config.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=steps_per_epoch * config.epochs,
        pct_start=0.2)
    generator = torch.Generator().manual_seed(config.seed)
    val_frames, val_labels = render_frames((config.seed, 1), config.val_images,
                                           config.texture_match, config.world,
                                           workers=config.threads)
    frames = labels = None
    history = []
    for epoch in range(config.epochs):
        if frames is None or (config.refresh and epoch % config.refresh == 0):
            frames, labels = render_frames((config.seed, 2, epoch), config.train_images,
                                           config.texture_match, config.world,
                                           workers=config.threads)
        model.train()
        low_res = bool(config.low_res) and epoch < config.low_res_epochs
        order = torch.randperm(len(frames), generator=generator)
        losses = []
        for step in range(steps_per_epoch):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            batch = _augment(_normalise(torch.from_numpy(frames[index.numpy()])), generator,
                             config.crop_scale)
            if low_res:
                batch = _downscale(batch, config.low_res)
            loss = nn.functional.cross_entropy(model(batch),
                                               torch.from_numpy(labels[index.numpy()]))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        # Validation at the resolution of this epoch's training.
        accuracy = float(np.mean(predict(model, val_frames, size=config.low_res if low_res
                                         else None) == val_labels))
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "val_accuracy": accuracy,
                        "seconds": round(time.perf_counter() - started, 1)})
        log(f"{config.name}: epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.3f} "
            f"val accuracy {accuracy:.3f} ({time.perf_counter() - started:.0f} s)")
    model.eval()
    record = {
        "name": config.name,
        "config": _jsonable(dataclasses.asdict(config)),
        "seed": config.seed,
        "epochs": config.epochs,
        "val_accuracy": history[-1]["val_accuracy"] if history else float("nan"),
        "history": history,
        "seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    return model, record


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def save_model(model: nn.Module, record: dict, out: Path) -> Path:
    """Write ``<out>/<name>.pt`` (float32 state dict) and ``<name>.json``; return the .pt."""
    from localglobal.io.atomic import atomic_path, write_json

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{record['name']}.pt"
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_json(out / f"{record['name']}.json", record)
    # Temporary files are private; shipped weights must be readable by everyone.
    for written in (path, out / f"{record['name']}.json"):
        os.chmod(written, 0o644)
    return path


def train_models(out: str | os.PathLike[str] | None = None,
                 world: str | os.PathLike[str] | None = None,
                 configs: tuple[TrainConfig, ...] = DEFAULT_MODELS,
                 log: Callable[[str], None] = _log) -> list[Path]:
    """Train ``toy-texture`` and ``toy-shape`` and write their weights and records.

    Parameters
    ----------
    out : str | os.PathLike[str], optional
        Folder for ``<name>.pt`` and ``<name>.json``; default the package's
        ``toyworld/weights``.
    world : str | os.PathLike[str], optional
        An already written world whose ``val`` split and cue-conflict set
        measure the trained models (accuracy, shape bias); default: a world built
        with :class:`~localglobal.toyworld.build.WorldConfig`'s defaults in a
        temporary folder.
    configs : tuple[TrainConfig, ...]
        The models to train.
    log : Callable[[str], None]
        Where progress lines go.

    Returns
    -------
    list[Path]
        Paths of the written weight files.
    """
    out = Path(out) if out is not None else WEIGHTS_DIR
    paths = []
    with tempfile.TemporaryDirectory(prefix="toyworld-") as tmp:
        world_dir = Path(world) if world is not None else build_world(
            Path(tmp) / "world", WorldConfig())
        if not (world_dir / "world.json").exists():
            raise FileNotFoundError(f"{world_dir}: not a toy world (no world.json)")
        for config in configs:
            model, record = train_one(config, log=log)
            record.update(evaluate_world(model, world_dir, config.world))
            record["weights_bytes"] = int(sum(v.numel() * v.element_size()
                                              for v in model.state_dict().values()))
            log(f"{config.name}: " + json.dumps({k: v for k, v in record.items()
                                                  if k.startswith(("world_", "cue_"))}))
            paths.append(save_model(model, record, out))
    return paths
