"""The one device helper of the model stages."""

from __future__ import annotations

import pytest
import torch

from localglobal.errors import ConfigError, LocalglobalError
from localglobal.models.devices import select_device


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device(" CPU ").type == "cpu"
    assert select_device("auto").type in {"cpu", "cuda", "mps"}
    assert select_device(None) == select_device("") == select_device("auto")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_an_unknown_device_is_a_user_error():
    with pytest.raises(ConfigError, match="'tpu'") as error:
        select_device("tpu")
    assert isinstance(error.value, LocalglobalError)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_index_beyond_the_devices_is_refused():
    with pytest.raises(ConfigError, match="CUDA device"):
        select_device(f"cuda:{torch.cuda.device_count()}")
