"""Shared settings for the attribution tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The tests run on small, often shared machines where a second intra-op thread
    # competes with other processes and slows small convolutions down several-fold.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
