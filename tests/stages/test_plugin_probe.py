"""A probe of one's own, in one file, through the toy world to the report.

``[probes.plugins.invert]`` names a function in a temporary file; listed in
``probes.probes`` it gets rows in ``perturbations.parquet`` and ``predictions.parquet``,
a level curve, a row in the accuracy table and a report section, like a built-in probe.
It is code, so a run directory that names it is refused unless the configuration was
handed over on the command line or with ``--trust-config``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import to_toml
from localglobal.toyworld.build import build_world
from tests import toy_run

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

PLUGIN = '''
import numpy as np


def invert(image, level, rng):
    """Blend the image with its negative: level 0 is the image, 1 its negative."""
    blended = (1 - level) * image.astype(float) + level * (255.0 - image)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
'''


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory) -> tuple[Path, Path]:
    """``localglobal run`` on a configuration whose only probe is a plugin."""
    root = tmp_path_factory.mktemp("plugin")
    world = build_world(root / "world", toy_run.SMALL_WORLD)
    (root / "my_probes.py").write_text(PLUGIN, encoding="utf-8")
    config = toy_run.small_config(world)
    config.probes.probes = ["invert"]
    config.probes.plugins = {"invert": {"function": "my_probes.py:invert",
                                        "levels": [0.5, 1.0],
                                        "description": "The image blended with its negative.",
                                        "axis_label": "share of the negative"}}
    config.attribute.models = []
    path = root / "plugin.toml"
    text = to_toml(config).replace(str(root / "my_probes.py"), "my_probes.py")
    path.write_text(text, encoding="utf-8")
    result = invoke("run", path, "--run", root / "run", "--workers", 1)
    assert result.exit_code == 0, result.output
    return root / "run", root


def test_the_plugin_makes_its_rows_and_images(plugin_run):
    run, _ = plugin_run
    table = pd.read_parquet(run / "perturbations.parquet")
    rows = table[table["probe"] == "invert"]
    assert sorted(rows["condition"].unique()) == ["0.5", "1.0"]
    # Its levels are not integers, so the level column is their position.
    assert sorted(rows["level"].unique()) == [0, 1]
    for row in rows.itertuples():
        original = table[(table["image_id"] == row.image_id) & (table["probe"] == "original")]
        before = np.asarray(_png(run / original["path"].iloc[0]), dtype=int)
        after = np.asarray(_png(run / row.path), dtype=int)
        share = float(row.condition)
        expected = np.clip(np.rint((1 - share) * before + share * (255 - before)), 0, 255)
        assert np.array_equal(after, expected)
        assert json.loads(row.params)["level"] == share


def test_the_plugin_is_evaluated_and_reported_like_a_built_in_probe(plugin_run):
    run, _ = plugin_run
    predictions = pd.read_parquet(run / "predictions.parquet")
    assert set(predictions.loc[predictions["probe"] == "invert", "condition"]) == {"0.5", "1.0"}
    assert (run / "figures" / "invert.png").is_file()
    summary = (run / "report" / "summary.md").read_text(encoding="utf-8")
    assert "invert 1.0" in summary  # the accuracy at its strongest level, by label
    html = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "The image blended with its negative." in html
    assert "share of the negative" in html


def test_a_received_run_that_names_a_plugin_is_refused(plugin_run):
    run, _ = plugin_run
    result = invoke("perturb", "--run", run, "--force")
    assert result.exit_code != 0
    assert "probes.plugins.invert.function" in result.output
    assert "--trust-config" in result.output
    trusted = invoke("perturb", "--run", run, "--force", "--trust-config")
    assert trusted.exit_code == 0, trusted.output


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
