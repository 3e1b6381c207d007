"""The stage kernel: how a stage is declared, run, cached, resumed and reported.

A stage is declared once with :func:`~localglobal.pipeline.stage.stage` (its name,
the artifacts it reads and writes, the configuration it depends on, its version);
its body receives a :class:`~localglobal.pipeline.context.StageContext` that does
the sharding, resume, failure accounting and reporting. The runner
(:mod:`localglobal.pipeline.runner`) orders stages from their declarations and
decides what is up to date from the manifest.
"""
