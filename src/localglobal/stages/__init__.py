"""The pipeline's stages, one module each; importing this package declares them all.

Each module declares its stage with :func:`localglobal.pipeline.stage.stage` (what it
reads and writes, its parameters, its command's options, its estimate) and only
orchestrates: it reads artifacts, calls the domain packages, writes artifacts. Every
module of this package is a stage and is found here; a new stage is a new module (and
its configuration section). A module imports only light modules at its top, and what
its body needs in the body: declaring every stage costs milliseconds, and a command
loads the libraries of the stage it runs, no others.
"""

import importlib
import pkgutil

from localglobal.pipeline.stage import REGISTRY

# Sorted: the registration order breaks ties in the pipeline's order.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["REGISTRY"]
