"""Shared pytest set-up: slow tests are skipped unless --runslow is given."""

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: use --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_configure(config):
    # The suite's test models are tiny: one thread avoids OpenMP start-up and oversubscription.
    torch.set_num_threads(1)


def write_tiny_idx(folder) -> None:
    """Four gzipped MNIST-layout IDX files in ``folder``: 40 training and 20 test 28 x 28 images
    whose brightness follows the label (a learnable toy)."""
    import gzip

    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60 + labels[:, None, None] * 20).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
            (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))


@pytest.fixture
def tiny_idx():
    """:func:`write_tiny_idx` as a fixture: call it with the folder to fill."""
    return write_tiny_idx
