"""The configuration's tables: how a run executes, its data, frame and sample, its probes,
edges and models, how it evaluates, attributes and runs the Geirhos benchmark, and its
report. Every table is a pydantic model whose defaults reproduce the thesis; unknown keys
are errors.

The ``[analysis]`` table and its hypotheses are in
:mod:`~localglobal.config.analysis_section`; the whole configuration is
:class:`~localglobal.config.run_config.RunConfig`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class ReportSection(Section):
    """The report's title and how many images its heat-map gallery shows."""

    title: str = "Local versus global features"
    gallery_images: int = Field(6, ge=0)
