import pytest
import torch

from lipapps import InputError, resolve_device


def test_cpu_resolves():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu0", "cuda:x", ""])
def test_malformed_names_are_input_errors(name):
    with pytest.raises(InputError, match="not a torch device"):
        resolve_device(name)


def test_missing_cuda_device_is_an_input_error():
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(InputError, match="CUDA device"):
        resolve_device(missing)
