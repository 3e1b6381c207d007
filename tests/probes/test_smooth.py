"""Edge-preserving smoothing: flatter images, sharp outlines, and exact removed detail."""

import numpy as np
import pytest
import torch

from localglobal.probes.smooth import difference, invert, smooth_passes
from localglobal.probes.smoothers import OPERATORS, get_smoother, l0_smooth

EDGE_COLUMN = 80
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def textured_step():
    """Two flat halves (60 | 190) under a checker texture and noise."""
    rng = np.random.default_rng(1)
    height, width = 120, 160
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.where(xx < EDGE_COLUMN, 60.0, 190.0)
    texture = 12.0 * np.sign(np.sin(xx / 1.5)) * np.sign(np.sin(yy / 1.3))
    image = base[..., None] + texture[..., None] + rng.normal(0, 12, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def total_gradient(image):
    f = image.astype(np.float64)
    return np.abs(np.diff(f, axis=0)).sum() + np.abs(np.diff(f, axis=1)).sum()


def step(image):
    return image[:, EDGE_COLUMN].mean() - image[:, EDGE_COLUMN - 1].astype(np.float64).mean()


def change(a, b):
    return np.abs(a.astype(np.float64) - b).mean()


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_every_operator_flattens_texture_but_keeps_a_strong_step(textured_step, operator):
    passes, record = smooth_passes(textured_step, operator, iterations=3)
    first = passes[0]
    assert first.shape == textured_step.shape and first.dtype == np.uint8
    assert total_gradient(first) < 0.6 * total_gradient(textured_step)
    assert step(first) > 0.8 * step(textured_step)
    assert record.operator == operator and record.iterations == 3


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_each_further_pass_changes_the_image_less_than_the_first(textured_step, operator):
    passes, _ = smooth_passes(textured_step, operator, iterations=3)
    first_change = change(passes[0], textured_step)
    assert change(passes[1], passes[0]) < first_change
    assert change(passes[2], passes[1]) < first_change


def test_each_pass_works_on_the_previous_output(textured_step):
    smoother = get_smoother("rolling-guidance")
    passes, _ = smooth_passes(textured_step, smoother, iterations=2)
    assert np.array_equal(passes[1], smoother(passes[0]))


def test_l0_keeps_the_mean_and_makes_regions_flat(textured_step):
    out = l0_smooth(textured_step, lam=0.05)
    assert abs(out.astype(float).mean() - textured_step.astype(float).mean()) < 0.5
    # Flat up to rounding: few horizontal neighbours differ by more than 2 levels.
    jumps = np.count_nonzero(np.abs(np.diff(out.astype(int), axis=1)).sum(axis=2) > 2)
    assert jumps < 0.05 * out.shape[0] * (out.shape[1] - 1)


def test_removed_detail_and_its_inversion_relate_exactly(textured_step):
    smoothed = l0_smooth(textured_step)
    detail = difference(textured_step, smoothed)
    assert detail.dtype == np.uint8
    assert np.array_equal(detail.astype(int), np.abs(textured_step.astype(int) - smoothed))
    assert np.array_equal(np.minimum(textured_step, smoothed) + detail,
                          np.maximum(textured_step, smoothed))
    assert np.array_equal(invert(detail).astype(int) + detail, np.full(detail.shape, 255))


def test_parameters_come_with_defaults_and_unknown_ones_are_refused():
    smoother = get_smoother("l0", {"lam": 0.05})
    assert smoother.params == {"lam": 0.05, "kappa": 2.0, "beta_max": 1e5}
    with pytest.raises(ValueError, match=r"unknown parameter.*'lamda'.*accepted"):
        get_smoother("l0", {"lamda": 0.05})
    with pytest.raises(ValueError, match="num_iter: expected int"):
        get_smoother("fgs", {"num_iter": 2.5})
    with pytest.raises(ValueError, match="neither a registered operator"):
        get_smoother("median-of-nowhere")


class BoxBlur(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
        return torch.nn.functional.avg_pool2d(padded, 3, stride=1)


class Halve(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::2, ::2]


class Times255(torch.nn.Module):
    """Written for 0–255 inputs: it expects its input in 0–1 only to scale it up."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x * 255.0, max=255.0)


def save_script(module, path):
    torch.jit.script(module).save(str(path))
    return str(path)


def test_a_torchscript_model_is_accepted_by_path(tmp_path, textured_step):
    path = save_script(BoxBlur(), tmp_path / "blur.pt")
    passes, record = smooth_passes(textured_step, path, iterations=2)
    assert len(passes) == 2 and passes[0].shape == textured_step.shape
    assert total_gradient(passes[0]) < total_gradient(textured_step)
    params = record.params()
    assert params["operator"] == path and len(params["sha256"]) == 64
    assert params["params"]["value_range"] == 1.0


def test_a_torchscript_model_of_the_wrong_shape_is_refused_with_that_shape(tmp_path):
    path = save_script(Halve(), tmp_path / "halve.pt")
    with pytest.raises(ValueError, match=r"returned shape \(1, 3, 23, 34\)"):
        get_smoother(path)


def test_a_torchscript_model_out_of_range_is_refused(tmp_path):
    path = save_script(Times255(), tmp_path / "times255.pt")
    with pytest.raises(ValueError, match="value_range"):
        get_smoother(path)
    # Declaring the range the model works in makes it acceptable.
    assert get_smoother(path, {"value_range": 255.0}).params["value_range"] == 255.0


def test_a_file_that_is_not_torchscript_is_refused(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a loadable TorchScript model"):
        get_smoother(str(path))
