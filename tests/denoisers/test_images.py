"""denoisers.images: the classic photographs scikit-image ships, read as gray."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage.data

from lipapps import InputError
from denoisers.images import CLASSIC_IMAGES, classic_image_files, read_image


def test_every_classic_image_is_shipped_and_reads_as_a_gray_image_in_the_unit_range() -> None:
    files = classic_image_files()
    assert [f.name for f in files] == list(CLASSIC_IMAGES)
    for path in files:
        image = read_image(path)
        assert image.dim() == 2 and min(image.shape) >= 150, path.name
        assert 0.0 <= float(image.min()) < float(image.max()) <= 1.0, path.name


def test_an_installation_without_them_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skimage.data, "__file__", str(tmp_path / "__init__.py"))
    with pytest.raises(InputError, match=f"lacks astronaut.png, .* in {tmp_path}"):
        classic_image_files()
