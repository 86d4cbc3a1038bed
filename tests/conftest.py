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
