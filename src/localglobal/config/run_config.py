"""The whole run configuration: every table, the run's model order, and the configuration
a run on one's own data begins with."""

from __future__ import annotations

from pydantic import Field, model_validator

from localglobal.config.analysis_section import AnalysisSection
from localglobal.config.config_sections import (
    AnnotationsSection,
    AttributeSection,
    DataSection,
    EdgesSection,
    EvaluateSection,
    FrameSection,
    GeirhosSection,
    IndexSection,
    ModelEntry,
    ProbesSection,
    ReportSection,
    RunSection,
    Section,
)
from localglobal.io.atomic import safe_name


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
