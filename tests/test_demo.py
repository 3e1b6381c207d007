"""``localglobal.demo_run``: the demo from Python, a mistake stopped before anything is built."""

import pytest

import localglobal as lg
from localglobal.errors import ConfigError


def test_demo_run_is_public():
    assert "demo_run" in lg.__all__ and "demo_run" in dir(lg)
    assert lg.demo_run.__module__ == "localglobal.demo"


@pytest.mark.parametrize(("options", "message"), [
    ({"images_per_class": 0}, "images_per_class must be at least 1"),
    ({"config": "no-such-setting"}, "no-such-setting"),
])
def test_a_bad_demo_run_is_one_error_and_builds_nothing(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        lg.demo_run(tmp_path / "run", **options)
    assert not (tmp_path / "run" / "world").exists()
