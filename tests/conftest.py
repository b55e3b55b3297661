"""Shared fixtures: seeded randomness and the real data beside the repo."""

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test: oversubscribed OpenMP threads
    make tiny models crawl on shared CPUs."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def real_file(shared_data):
    """Factory: path of a file in ``../shared/data/real`` or skip."""
    def get(name: str) -> Path:
        path = shared_data / "real" / name
        if not path.exists():
            pytest.skip(f"real data file {path} not found")
        return path
    return get
