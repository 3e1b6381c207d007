"""The fake run of ``tests/fake_run.py`` as fixtures: ``fake_run``, ``make_run``,
``make_config``."""

from tests.fake_run import fake_run, make_config, make_run

__all__ = ["fake_run", "make_config", "make_run"]
