"""The run configuration: one TOML file, validated, whose defaults reproduce the thesis.

Every stage reads its parameters from here. Unknown keys and wrong types are errors
that name the key (``probes.scramble.blocks.0: Input should be a valid integer``).

>>> config = RunConfig()                     # the thesis defaults
>>> config.frame.crop, config.index.per_class, config.run.seed
(224, 3, 1)
>>> config = load_config("configs/demo.toml")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from localglobal.errors import ConfigError
from localglobal.io.atomic import safe_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_DIR = Path(__file__).parent / "configs"

THESIS_MODELS = ["resnet50", "sin-resnet50", "se-resnet50", "resnext50", "se-resnext50", "vgg16"]




class Section(BaseModel):
    """Base of every configuration table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(Section):
    """How the run is executed."""

    seed: int = 1
    workers: int = Field(0, ge=0, description="process-pool size; 0 means one per CPU core")
    executor: Literal["process", "ray"] = "process"
    ray_address: str | None = Field(
        None, description="Ray cluster to join (ray.init(address=...)); default RAY_ADDRESS, "
        "else a local Ray instance")
    shard_size: int = Field(64, ge=1, description="items per shard (unit of resume)")


class DataSection(Section):
    """Where the inputs come from (paths may also be given on the command line)."""

    annotations: str | None = Field(
        None, description="Annotation.tar.gz, a folder of per-synset archives, or of XML files"
    )
    images: str | None = Field(None, description="root of <split>/<wnid>/<image> folders")
    label_space: str = Field("imagenette", description="label space of the dataset's classes")
    outlines: str | None = Field(
        None, description="npz of true object outlines (image id → boolean mask in image "
        "pixels), the toy world's outlines.npz; the edges stage brings them into the frame"
    )


class AnnotationsSection(Section):
    """Caps on reading annotation archives: a decompression bomb costs at most these.

    A member past a cap is reported by name and skipped; past the total or the ratio
    cap, the rest of that archive is not read.
    """

    max_member_mb: float = Field(256, gt=0, description="largest archive member (and "
                                 "largest nested archive, decompressed), MiB")
    max_total_gb: float = Field(64, gt=0, description="most bytes the source's archives "
                                "may decompress to, GiB")
    max_ratio: float = Field(250, gt=1, description="most decompressed bytes per compressed "
                             "byte of a stream (a gzip bomb reaches about 1000)")


class FrameSection(Section):
    """The model-input frame: resize the shorter side, then centre-crop a square."""

    resize: int = Field(256, ge=1)
    crop: int = Field(224, ge=1)
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"


class IndexSection(Section):
    """Which images are drawn for the experiments."""

    splits: list[str] = Field(default_factory=lambda: ["train"])
    per_class: int | None = Field(3, ge=1, description="images per class; None takes all")
    require_box: bool = True
    extensions: list[str] = Field(
        default_factory=lambda: [".jpeg", ".jpg", ".png"], description="case-insensitive"
    )


class ProbesSection(Section):
    """Which probes run, and each probe's own section ``[probes.NAME]``.

    A probe's section is checked against the parameters its declaration names
    (:mod:`localglobal.probes.catalog`) before any stage runs; here it is kept as given.
    ``[probes.plugins.NAME]`` declares a probe of one's own (``function = "file.py:f"``,
    ``levels = [...]``), which is code: it is loaded only from a configuration handed
    over on the command line or with ``--trust-config``.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    probes: list[str] = Field(
        default_factory=lambda: ["scramble", "patch", "smooth"],
        description="the probes to run, by name (`localglobal probes` lists them)")
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="probes of one's own: [probes.plugins.NAME] with "
        "function = \"file.py:function\" and levels = [...]")
    min_side: int = Field(16, ge=1, description="source images whose shorter side is below "
                          "this many pixels are reported as too small and skipped")
    materialize: bool = Field(True, description="store every probe image as a PNG; false "
                              "stores only what cannot be built on the model's device "
                              "(originals, smoothings, eidolons, plugins)")

    @model_validator(mode="after")
    def _sections_are_tables(self) -> ProbesSection:
        for name, value in (self.model_extra or {}).items():
            if not isinstance(value, dict):
                raise ValueError(f"probes.{name} must be a table of that probe's parameters")
        return self

    def section(self, name: str) -> dict[str, Any]:
        """The ``[probes.NAME]`` table as given (empty when absent: the defaults)."""
        return dict((self.model_extra or {}).get(name) or {})

    def set_section(self, name: str, **values: Any) -> None:
        """Set keys of ``[probes.NAME]``, keeping its other keys (for scripts and tests)."""
        extra = self.model_extra if self.model_extra is not None else {}
        extra[name] = {**extra.get(name, {}), **values}


class EdgesSection(Section):
    """The thesis's auto-Canny: non-local-means denoising, median-based thresholds.

    ``thresholds`` picks the rule for Canny's thresholds: ``"auto"`` (the thesis: the
    grey median ± sigma, which saturates at 255 on bright images), ``"otsu"`` (upper =
    Otsu's grey threshold, lower = ``otsu_ratio`` × upper) or ``"percentile"`` (the
    ``percentiles`` of the image's non-zero Sobel gradient magnitudes).
    """

    sigma: float = Field(0.9, ge=0)
    thresholds: Literal["auto", "otsu", "percentile"] = Field(
        "auto", description="Canny threshold rule: auto (thesis), otsu, percentile")
    percentiles: tuple[float, float] = Field(
        (70.0, 90.0), description="lower and upper percentile of the non-zero gradient "
        "magnitudes (thresholds = 'percentile')")
    otsu_ratio: float = Field(0.5, gt=0, le=1, description="lower / upper threshold "
                              "(thresholds = 'otsu')")
    denoise: bool = True
    h: float = 30
    h_color: float = 10
    template_window: int = 7
    search_window: int = 21
    min_side: int = Field(16, ge=1, description="source images whose shorter side is below "
                          "this many pixels are reported as too small and skipped")

    @field_validator("percentiles")
    @classmethod
    def _ordered_percentiles(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low < high <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got "
                             f"{list(value)}")
        return value


class ModelEntry(Section):
    """A model declared in the config (``[models.NAME]``).

    A registered name with only ``weights`` points the registry at a local copy.
    """

    arch: str | None = Field(None, description="timm:NAME, torchvision:NAME, or a registered name")
    weights: str | None = Field(None, description="URL or path of the checkpoint")
    sha256: str | None = None
    label_space: str | None = None
    canonizer: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    resize: int | None = Field(None, ge=1, description="shorter side before the crop, pixels")
    crop: int | None = Field(None, ge=1, description="side of the model's input, pixels")
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    module: str | None = Field(None, description="Python file that registers models")


class EvaluateSection(Section):
    """How the evaluate stage runs the models: which, in what batches, on which device."""

    models: list[str] = Field(default_factory=lambda: list(THESIS_MODELS))
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    bf16: bool = Field(False, description="bfloat16 autocast on GPU")
    channels_last: bool = True
    loader_workers: int | None = Field(
        None, ge=0, description="DataLoader worker processes that decode images; unset: "
        "none on CPU, where the model needs every core, else up to 4")


class AttributeSection(Section):
    """How the attribute stage explains the models: which, the method, the target, the
    controls and the probes explained."""

    models: list[str] = Field(default_factory=lambda: ["resnet50", "sin-resnet50"])
    composite: str = Field("epsilon-plus-flat", description="epsilon-plus-flat, "
                           "epsilon-gamma-box, epsilon-alpha2-beta1-flat, epsilon, "
                           "gradient-x-input, integrated-gradients, smoothgrad, or auto (LRP "
                           "where the model has a canonizer, else gradient-x-input)")
    epsilon: float = 0.1
    target: Literal["predicted", "true"] = "predicted"
    probes: list[str] = Field(default_factory=lambda: ["original"])
    controls: list[Literal["random-weights", "shuffled-edges"]] = Field(
        default_factory=lambda: ["random-weights", "shuffled-edges"]
    )
    batch_size: int = Field(16, ge=1)
    device: str = "auto"
    heatmaps: bool = True


class GeirhosSection(Section):
    """The Geirhos benchmark: model-vs-human's 17 datasets, models and human observers."""

    stimuli: str | None = Field(None, description="folder of stimuli: model-vs-human's dataset "
                                "folders (localglobal fetch model-vs-human), cue-conflict/, "
                                "edges/, filled-silhouettes/, or a texture-vs-shape checkout")
    humans: str | None = Field(None, description="folder of model-vs-human raw-data CSVs")
    datasets: list[Literal[
        "cue-conflict", "edge", "silhouette", "sketch", "stylized", "colour", "contrast",
        "high-pass", "low-pass", "phase-scrambling", "power-equalisation", "false-colour",
        "rotation", "eidolonI", "eidolonII", "eidolonIII", "uniform-noise"]] | None = Field(
        None, description="datasets to use [default: every one present]")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples of the benchmark's "
                           "intervals (trials resampled within each condition; 0: none)")
    models: list[str] | None = Field(None, description="models [default: evaluate.models]")
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")


class Hypothesis(Section):
    """One directional, paired comparison: of two models, or of one model's probed images
    with its originals.

    The compared value is ``measure`` (a column of predictions or attributions) of
    ``model_a`` minus that of ``model_b``, paired by image, level and variant. With
    ``relative_to = "original"`` each value is first replaced by its drop from the
    same image's unperturbed value (original − perturbed), so "hurts more" reads as
    a larger drop. ``alternative`` is the direction of the mean of a − b.

    Measures free of baseline and floor effects: ``normalize = "ratio"`` divides the
    drop by the original ((original − perturbed) / original, the share lost; needs
    ``relative_to = "original"``); ``measure = "true_logit"`` with ``relative_to``
    compares logit drops, which have no floor; ``subset = "both-correct"`` keeps only
    the images both models classify correctly on the original, so that clean
    accuracy does not pass for robustness.

    ``source = "probe-effect"`` tests one model: whether ``probe`` lowers ``model_a``'s
    ``measure`` relative to the original (each value is the drop from the image's
    original, compared with no change); ``model_b`` is then not given.
    """

    id: str
    description: str = ""
    source: Literal["predictions", "attributions", "interaction", "probe-effect"] = "predictions"
    probe: str | None = None
    levels: list[int | str] | None = Field(
        None, description="the probe's levels by label (28, \"c50\"); None means all")
    measure: str = "true_prob"
    relative_to: Literal["none", "original"] = "none"
    model_a: str
    model_b: str | None = Field(None, description="the second model (not given for "
                                "source = 'probe-effect')")
    alternative: Literal["greater", "less", "two-sided"] = "greater"
    control: str = Field("none", description="attribution rows to use (source=attributions)")
    proxy: str = Field("canny", description="shape proxy of the attribution rows to use: "
                       "canny (the edges), or outline (the true outline, toy world)")
    normalize: Literal["none", "ratio"] = Field(
        "none", description="ratio: the drop divided by the original value "
        "(needs relative_to = 'original')")
    subset: Literal["all", "both-correct"] = Field(
        "all", description="both-correct: only images both models classify correctly on "
        "the original")

    @model_validator(mode="before")
    @classmethod
    def _probe_effect_drops(cls, data: Any) -> Any:
        # A probe's effect on one model is always its drop from the original.
        if isinstance(data, dict) and data.get("source") == "probe-effect":
            data = {"relative_to": "original", **data}
        return data

    @model_validator(mode="after")
    def _check_transform(self) -> Hypothesis:
        one_model = self.source == "probe-effect"
        if one_model and self.model_b is not None:
            raise ValueError(f"hypothesis {self.id}: source = 'probe-effect' tests one model "
                             "(model_a); remove model_b")
        if not one_model and self.model_b is None:
            raise ValueError(f"hypothesis {self.id}: source = {self.source!r} compares two "
                             "models; give model_b")
        if one_model and (self.probe is None or self.relative_to != "original"):
            raise ValueError(f"hypothesis {self.id}: source = 'probe-effect' needs a probe "
                             "and compares with the original (relative_to = 'original')")
        if self.normalize == "ratio" and self.relative_to != "original":
            raise ValueError(f"hypothesis {self.id}: normalize = 'ratio' divides the drop "
                             "from the original by the original value, so it needs "
                             "relative_to = 'original'")
        if self.source == "interaction" and (self.relative_to, self.normalize) != ("none",
                                                                                   "none"):
            raise ValueError(f"hypothesis {self.id}: the patch interaction's drops are "
                             "always taken from the original; relative_to and normalize "
                             "do not apply to source = 'interaction'")
        return self


class AnalysisSection(Section):
    """How analyze tests and draws: α, resamples, the Wilcoxon zero rule, the patch
    interaction and the hypotheses (unset: those that fit the run)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    bootstrap: int = Field(2000, ge=100, description="bootstrap resamples for intervals")
    zero_method: Literal["wilcox", "pratt", "zsplit"] = Field(
        "wilcox", description="zero differences in the Wilcoxon test: wilcox drops them, "
        "pratt ranks then drops them, zsplit splits their ranks between the signs"
    )
    interaction_measure: str = Field(
        "true_logit", description="predictions column the patch interaction uses"
    )
    interaction_test: Literal["permutation", "bootstrap"] = Field(
        "permutation", description="p of the image-level patch-interaction test: swap the "
        "two models' values within images, or bootstrap over images"
    )
    figure_dpi: int = Field(100, ge=30, description="resolution of the PNG figures")
    contact_sheets: int = Field(3, ge=0, description="images shown as probe contact sheets")
    hypotheses: list[Hypothesis] | None = Field(
        None, description="unset: the thesis hypotheses (configs/thesis.toml) whose models, "
        "probes and levels are all in the run, else one probe-effect hypothesis per model "
        "and probe; a list (empty: none) is tested as given, and a hypothesis naming what "
        "the run lacks is an error")

    @field_validator("hypotheses")
    @classmethod
    def _unique_ids(cls, hypotheses: list[Hypothesis] | None) -> list[Hypothesis] | None:
        if hypotheses is None:
            return None
        ids = [h.id for h in hypotheses]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"hypothesis ids must be unique; repeated: {duplicates}")
        return hypotheses


class ReportSection(Section):
    """The report's title and how many images its heat-map gallery shows."""

    title: str = "Local versus global features"
    gallery_images: int = Field(6, ge=0)


class RunConfig(Section):
    """The whole run configuration. Every table is optional; defaults are the thesis."""

    run: RunSection = Field(default_factory=RunSection)
    data: DataSection = Field(default_factory=DataSection)
    annotations: AnnotationsSection = Field(default_factory=AnnotationsSection)
    frame: FrameSection = Field(default_factory=FrameSection)
    index: IndexSection = Field(default_factory=IndexSection)
    probes: ProbesSection = Field(default_factory=ProbesSection)
    edges: EdgesSection = Field(default_factory=EdgesSection)
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)
    attribute: AttributeSection = Field(default_factory=AttributeSection)
    geirhos: GeirhosSection = Field(default_factory=GeirhosSection)
    analysis: AnalysisSection = Field(default_factory=AnalysisSection)
    report: ReportSection = Field(default_factory=ReportSection)

    def model_order(self) -> tuple[str, ...]:
        """The run's models in configuration order, each once: ``evaluate.models``, then
        the ``attribute`` and ``geirhos`` models not listed yet (the order of the
        figures' styles and the report's rows)."""
        names = [*self.evaluate.models, *self.attribute.models, *(self.geirhos.models or [])]
        return tuple(dict.fromkeys(names))

    @model_validator(mode="after")
    def _distinct_file_names(self) -> RunConfig:
        # A model's outputs are named after it (relevance/<name>.npy, heatmaps/<name>/):
        # two names that map to one file name would overwrite each other's results.
        seen: dict[str, str] = {}
        for name in (*self.model_order(), *self.models):
            stem = safe_name(name).casefold()  # case-insensitive file systems too
            other = seen.setdefault(stem, name)
            if other != name:
                raise ValueError(
                    f"models {other!r} and {name!r} would share the file name "
                    f"{safe_name(name)!r} (relevance/, heatmaps/); rename one of them")
        return self


def own_data_config() -> RunConfig:
    """The configuration a run started by ``annotations`` or ``index`` begins with.

    The defaults without the thesis's model lists: a run on one's own data names its
    models (``--models``), and the thesis's six come only when asked for
    (``localglobal run configs/thesis.toml``).
    """
    config = RunConfig()
    config.evaluate.models = []
    config.attribute.models = []
    return config


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a configuration given as nested dictionaries."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def load_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and validate a TOML configuration file.

    Relative data paths in the file are taken relative to the file's folder.
    """
    path = Path(path)
    config = config_from_dict(_read_toml(path), str(path))
    return _resolve_paths(config, path.parent)


MAX_CONFIG_BYTES = 1 << 20
"""The largest configuration file read (1 MiB; the thesis's is 6 KiB)."""
MAX_CONFIG_DEPTH = 32
"""The deepest nesting of tables and arrays a configuration may have."""


def _bracket_depth(text: str) -> int:
    """The deepest nesting in TOML text: ``[``/``{`` plus the dots of one dotted key.

    Strings and comments are left out. A dotted key (``[a.b.c]``) nests as deep as
    brackets do, and the parser takes time quadratic in its length; a float's one dot
    adds one level at most.
    """
    depth = deepest = dots = 0
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == ".":
            dots += 1
            deepest = max(deepest, depth + dots)
        elif char in "=,\n":
            dots = 0
        if char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else char
            j = i + len(quote)
            while j < n and text[j:j + len(quote)] != quote:
                j += 2 if char == '"' and text[j] == "\\" else 1
            i = j + len(quote) - 1
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
        i += 1
    return deepest


def _dict_depth(data: Any) -> int:
    """The nesting depth of parsed TOML, found without recursion."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_CONFIG_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list) else ()
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, dict | list))
    return deepest


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: no such configuration file")
    if not path.is_file():
        raise ConfigError(f"{path}: is a folder, not a configuration file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes, larger than a configuration "
                          f"can be ({MAX_CONFIG_BYTES} bytes); is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    too_deep = ConfigError(f"{path}: tables or arrays nested more than {MAX_CONFIG_DEPTH} "
                           "levels deep; a configuration is at most a few levels deep")
    if _bracket_depth(text) > MAX_CONFIG_DEPTH:
        raise too_deep
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    if _dict_depth(data) > MAX_CONFIG_DEPTH:
        raise too_deep
    return data


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_changes(before: RunConfig, after: RunConfig) -> list[str]:
    """The settings that differ between two configurations, one ``key: old → new`` each."""
    old = _flatten(before.model_dump(mode="json"))
    new = _flatten(after.model_dump(mode="json"))
    return [f"{key}: {old.get(key)!r} → {new.get(key)!r}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def overlay_config(base: RunConfig, path: str | os.PathLike[str]) -> RunConfig:
    """Lay the TOML file at ``path`` over ``base``: tables merged, keys replaced.

    A file holding one ``[models.NAME]`` table adds that model and keeps everything
    else of ``base``; relative paths in the file are taken relative to its folder.

    Parameters
    ----------
    base : RunConfig
        The run's configuration.
    path : path-like
        The overlay.

    Returns
    -------
    RunConfig
        The merged, validated configuration.
    """
    path = Path(path)
    overlay = _resolve_paths(config_from_dict(_read_toml(path), str(path)), path.parent)
    raw = _read_toml(path)
    resolved = overlay.model_dump(mode="json", exclude_none=True)
    # Only the keys the file sets are laid over; the rest of ``overlay`` is defaults.
    picked = _pick(resolved, raw)
    merged = _merge(base.model_dump(mode="json", exclude_none=True), picked)
    return config_from_dict(merged, str(path))


def _pick(resolved: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(resolved.get(key), dict):
            picked[key] = _pick(resolved[key], value)
        else:
            picked[key] = resolved.get(key, value)
    return picked


def _resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    for key in ("annotations", "images"):
        value = getattr(config.data, key)
        if value and "://" not in value and not Path(value).expanduser().is_absolute():
            setattr(config.data, key, str((base / value).resolve()))
    for entry in config.probes.plugins.values():
        reference = entry.get("function")
        if isinstance(reference, str) and ":" in reference:
            file, _, function = reference.rpartition(":")
            if file and not Path(file).expanduser().is_absolute():
                entry["function"] = f"{(base / file).resolve()}:{function}"
    for entry in config.models.values():
        for key in ("weights", "module"):
            value = getattr(entry, key)
            if value and "://" not in value and not Path(value).expanduser().is_absolute():
                candidate = (base / value).resolve()
                if candidate.exists():
                    setattr(entry, key, str(candidate))
    return config


def builtin_config(name: str) -> Path:
    """Path of a configuration shipped with the package (``"thesis"``, ``"demo"``)."""
    path = CONFIG_DIR / f"{name}.toml"
    if not path.exists():
        available = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
        raise ConfigError(f"no built-in configuration {name!r}; available: {available}")
    return path


def to_toml(config: RunConfig) -> str:
    """Serialise a configuration as TOML (the form written into a run directory)."""
    import tomli_w

    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))
