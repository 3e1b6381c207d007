"""The run configuration: one TOML file, validated, whose defaults reproduce the thesis.

Every stage reads its parameters from here. Unknown keys and wrong types are errors
that name the key (``probes.scramble.blocks.0: Input should be a valid integer``).

>>> config = RunConfig()                     # the thesis defaults
>>> config.frame.crop, config.index.per_class, config.run.seed
(224, 3, 1)
>>> config = load_config("configs/demo.toml")  # doctest: +SKIP

Modules: :mod:`~.config_sections` (the tables of a run, ``[run]`` to ``[report]``),
:mod:`~.analysis_section` (``[analysis]`` and its hypotheses), :mod:`~.run_config` (the
whole configuration), :mod:`~.toml_reading` (a file's TOML within limits) and
:mod:`~.config_files` (loading, overlaying, comparing and writing configurations).
"""

from localglobal.config.analysis_section import AnalysisSection, Hypothesis
from localglobal.config.config_files import (
    CONFIG_DIR,
    builtin_config,
    config_changes,
    config_from_dict,
    load_config,
    overlay_config,
    to_toml,
)
from localglobal.config.config_sections import (
    THESIS_MODELS,
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
from localglobal.config.run_config import RunConfig, own_data_config
from localglobal.config.toml_reading import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH

__all__ = [
    "CONFIG_DIR",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "THESIS_MODELS",
    "AnalysisSection",
    "AnnotationsSection",
    "AttributeSection",
    "DataSection",
    "EdgesSection",
    "EvaluateSection",
    "FrameSection",
    "GeirhosSection",
    "Hypothesis",
    "IndexSection",
    "ModelEntry",
    "ProbesSection",
    "ReportSection",
    "RunConfig",
    "RunSection",
    "Section",
    "builtin_config",
    "config_changes",
    "config_from_dict",
    "load_config",
    "overlay_config",
    "own_data_config",
    "to_toml",
]
