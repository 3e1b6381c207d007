"""localglobal: how much do image classifiers rely on local features versus global shape?

The package is a pipeline of stages (annotations → index → perturb/edges → evaluate →
attribute → analyze → report) that communicate through files in a run directory.
See :mod:`localglobal.run` for the stage graph and :mod:`localglobal.cli` for the
command line.
"""

__version__ = "0.1.0"
