"""images: a folder of image files (PNG, JPEG, ...), one subfolder per class, read with Pillow.

The spec's observed variables say what to make of them: the one real variable `[C, H, W]` gets
every image as intensities in [0, 1], converted to grey (C = 1) or RGB (C = 3) and resized to
H x W (bilinear, antialiased); a categorical `y : categorical(K)` beside it gets the class, the
index of the image's subfolder in sorted order (K must equal the number of subfolders). Without a
categorical variable the images may lie in the folder itself. `test` of the images are the test
split, drawn with the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ebmspec.runtime.data.base import Context, count_rows, resolve_file, split_rows, unreadable
from ebmspec.semantic.data import describe_field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "images",
    (P("folder", "string"), P("test", "prob", 0.1)),
    "a folder of image files, one subfolder per class (Pillow): the real variable [C, H, W] "
    "gets the images in [0, 1] (grey for C = 1, RGB for C = 3, resized to H x W), a "
    "categorical(K) one the subfolder's index (K subfolders)",
)

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
INSTALL = "install Pillow: pip install pillow"


def fields(args: dict) -> None:
    """Mapped by name: the dataset provides what the spec's observed variables declare."""
    return None


def _roles(context: Context) -> tuple[str, str | None]:
    """(the image variable, the class variable or None)."""
    reals = [n for n, (kind, shape, _) in context.fields.items() if kind == "real"]
    labels = [n for n, (kind, shape, _) in context.fields.items() if kind == "categorical"]
    image = reals[0] if len(reals) == 1 else None
    shape = context.fields[image][1] if image else ()
    others = set(context.fields) - set(reals) - set(labels)
    if image is None or len(shape) != 3 or shape[0] not in (1, 3) or len(labels) > 1 or others:
        listed = ", ".join(f"`{n} : {describe_field(f)}`" for n, f in context.fields.items())
        raise context.fail(
            "E623",
            f"an image folder gives one image variable real[C, H, W] (C = 1 or 3) and at most "
            f"one categorical class; the spec observes {listed}",
            "declare e.g. `x : real[1, 28, 28]` and `y : categorical(10)`, and mark other "
            "variables `latent`",
        )
    return image, (labels[0] if labels else None)


def load(context: Context):
    try:
        from PIL import Image
    except ImportError:
        raise context.fail("E624", "reading image files needs Pillow", INSTALL) from None
    folder = resolve_file(context, context.args["folder"])
    image, label = _roles(context)
    channels, height, width = context.fields[image][1]
    classes = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    sources = [(k, p) for k, c in enumerate(classes) for p in sorted(c.iterdir())]
    if label is None and not classes:
        sources = [(0, p) for p in sorted(folder.iterdir())]
    sources = [(k, p) for k, p in sources if p.suffix.lower() in SUFFIXES]
    if label is not None and len(classes) != context.fields[label][2]:
        raise context.fail(
            "E625",
            f"`{folder}` has {len(classes)} subfolders (classes), and `{label}` is "
            f"{describe_field(context.fields[label])}",
            f"declare `{label} : categorical({len(classes)})`, one value per subfolder"
            if classes
            else "put the images of each class in a subfolder of their own",
        )
    if not sources:
        raise context.fail(
            "E630", f"`{folder}` holds no image files ({', '.join(sorted(SUFFIXES))})",
            "put the images in subfolders named after their classes",
        )  # fmt: skip
    mode = "L" if channels == 1 else "RGB"
    pixels = np.empty((len(sources), height, width, channels), dtype=np.float32)
    for row, (_, path) in enumerate(sources):
        try:
            with Image.open(path) as picture:
                picture = picture.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                pixels[row] = np.asarray(picture, dtype=np.float32).reshape(height, width, -1)
        except (OSError, ValueError) as error:
            raise unreadable(context, Path(path), error, "a PNG, JPEG or other image") from None
    values = {image: torch.from_numpy(pixels / 255.0).permute(0, 3, 1, 2).contiguous()}
    if label is not None:
        values[label] = torch.tensor([k for k, _ in sources], dtype=torch.int64)
    count = len(sources)
    train, test = split_rows(context, values, round(context.args["test"] * count), folder)
    names = ", ".join(c.name for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
    description = (
        f"images in {folder.name}: {count:,} ({count_rows(train):,} train, "
        f"{count_rows(test):,} test), {mode} {height} x {width}"
        + (f", {len(classes)} classes ({names})" if label is not None else "")
    )
    return description, train, test, None, None
