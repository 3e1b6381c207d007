"""The pipeline's stages, one module each; importing this package registers them all.

Each module declares its stage with :func:`localglobal.pipeline.stage.stage` and only
orchestrates: it reads artifacts, calls the domain packages, writes artifacts.
"""

from localglobal.pipeline.stage import REGISTRY
from localglobal.stages import (  # noqa: F401 - imported to register the stages
    analyze,
    annotations,
    attribute,
    edges,
    evaluate,
    geirhos,
    index,
    perturb,
    report,
)

__all__ = ["REGISTRY"]
