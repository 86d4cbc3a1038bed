import os

import pytest
import torch

# The unit tests never touch the network and always see the offline tier unless a test says otherwise.
os.environ.setdefault("COURSE_DATA", "offline")
torch.set_num_threads(2)


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread avoids OpenMP spin-waiting on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
