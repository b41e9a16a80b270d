"""Second datasets used only as out-of-distribution sets, read from files a package ships.

In: the `Context` of the spec's data line (for located errors) and the image shape of the model's
image variable. Out: `{"x": [N, 1, H, W]}` float images in [0, 1], to be transformed like the
test images. `sklearn_digits`: scikit-learn's 1,797 handwritten digits (8 x 8, 16 grey levels,
the UCI optdigits test set), read from the csv.gz inside the installed scikit-learn without
importing it, scaled to [0, 1] and resized to H x W: digits, but from another source and
resolution than MNIST (paper 003's "OODomain" kind of set).
"""

from __future__ import annotations

from ebmspec.runtime.data.base import Context, resize_images
from ebmspec.runtime.data.digits import read_digits

SECOND_SETS = ("sklearn_digits",)


def load_second_set(context: Context, name: str, shape: tuple) -> dict:
    """The OOD set `name` as raw images of `shape` ([1, H, W]) in [0, 1]."""
    images, _, _ = read_digits(
        context, "OOD set `sklearn_digits`",
        'install it with `pip install "ebmspec[datasets]"`, or drop `sklearn_digits`',
    )  # fmt: skip
    if tuple(shape[1:]) != (8, 8):
        images = resize_images(images, shape[-1])
    return {"x": images}  # read_digits and resize_images both keep [0, 1]
