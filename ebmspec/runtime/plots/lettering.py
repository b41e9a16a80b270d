"""Text on the PNGs ebmspec writes (titles, axis ranges), with no imaging library.

In: a string of the characters in `GLYPHS` (lower-case letters, digits, ` .,-+[]()=%`; others
draw as blanks) and an integer scale. Out: a bool mask [7 * scale, 6 * scale * len - scale]
(5 x 7 pixel glyphs, one blank column between them), the text drawn into an RGB canvas, or a
figure of labelled square panels (`labelled_panels`, the density plot's layout).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# 5 x 7 glyphs, one string of 7 rows of 5 columns each ("#" = ink).
_FONT = """
a .....|.....|.###.|....#|.####|#...#|.####   b #....|#....|####.|#...#|#...#|#...#|####.
c .....|.....|.####|#....|#....|#....|.####   d ....#|....#|.####|#...#|#...#|#...#|.####
e .....|.....|.###.|#...#|#####|#....|.###.   f ..##.|.#...|####.|.#...|.#...|.#...|.#...
g .....|.....|.####|#...#|.####|....#|.###.   h #....|#....|####.|#...#|#...#|#...#|#...#
i ..#..|.....|.##..|..#..|..#..|..#..|.###.   j ...#.|.....|..##.|...#.|...#.|#..#.|.##..
k #....|#....|#..#.|#.#..|##...|#.#..|#..#.   l .##..|..#..|..#..|..#..|..#..|..#..|.###.
m .....|.....|##.#.|#.#.#|#.#.#|#.#.#|#.#.#   n .....|.....|####.|#...#|#...#|#...#|#...#
o .....|.....|.###.|#...#|#...#|#...#|.###.   p .....|.....|####.|#...#|####.|#....|#....
q .....|.....|.####|#...#|.####|....#|....#   r .....|.....|#.##.|##..#|#....|#....|#....
s .....|.....|.####|#....|.###.|....#|####.   t .#...|.#...|####.|.#...|.#...|.#..#|..##.
u .....|.....|#...#|#...#|#...#|#..##|.##.#   v .....|.....|#...#|#...#|#...#|.#.#.|..#..
w .....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.   x .....|.....|#...#|.#.#.|..#..|.#.#.|#...#
y .....|.....|#...#|#...#|.####|....#|.###.   z .....|.....|#####|...#.|..#..|.#...|#####
0 .###.|#...#|#..##|#.#.#|##..#|#...#|.###.   1 ..#..|.##..|..#..|..#..|..#..|..#..|.###.
2 .###.|#...#|....#|...#.|..#..|.#...|#####   3 ####.|....#|....#|.###.|....#|....#|####.
4 ...#.|..##.|.#.#.|#..#.|#####|...#.|...#.   5 #####|#....|####.|....#|....#|#...#|.###.
6 ..##.|.#...|#....|####.|#...#|#...#|.###.   7 #####|....#|...#.|..#..|.#...|.#...|.#...
8 .###.|#...#|#...#|.###.|#...#|#...#|.###.   9 .###.|#...#|#...#|.####|....#|...#.|.##..
. .....|.....|.....|.....|.....|.##..|.##..   , .....|.....|.....|.....|.##..|..#..|.#...
- .....|.....|.....|.###.|.....|.....|.....   + .....|..#..|..#..|#####|..#..|..#..|.....
[ .###.|.#...|.#...|.#...|.#...|.#...|.###.   ] .###.|...#.|...#.|...#.|...#.|...#.|.###.
( ...#.|..#..|.#...|.#...|.#...|..#..|...#.   ) .#...|..#..|...#.|...#.|...#.|..#..|.#...
= .....|.....|#####|.....|#####|.....|.....   % ##..#|##.#.|...#.|..#..|.#...|.#.##|#..##
"""
HEIGHT, WIDTH = 7, 5  # one glyph; an advance is WIDTH + 1


def _parse(font: str) -> dict[str, torch.Tensor]:
    glyphs = {}
    for line in font.strip().splitlines():
        for entry in line.split("   "):
            char, rows = entry.strip().split(" ", 1)
            glyphs[char] = torch.tensor([[c == "#" for c in row] for row in rows.split("|")])
            assert glyphs[char].shape == (HEIGHT, WIDTH), char
    return glyphs


GLYPHS = _parse(_FONT)


def text_width(text: str, scale: int = 1) -> int:
    return max(0, (WIDTH + 1) * len(text) - 1) * scale


def text_mask(text: str, scale: int = 1) -> torch.Tensor:
    """Bool [7 * scale, text_width(text, scale)]: where `text` puts ink."""
    mask = torch.zeros(HEIGHT, max(1, (WIDTH + 1) * len(text) - 1), dtype=torch.bool)
    for index, char in enumerate(text.lower()):
        glyph = GLYPHS.get(char)
        if glyph is not None:
            left = index * (WIDTH + 1)
            mask[:, left : left + WIDTH] = glyph
    return mask.repeat_interleave(scale, 0).repeat_interleave(scale, 1)


def draw(canvas: torch.Tensor, text: str, top: int, left: int, colour, scale: int = 1) -> None:
    """Ink `text` into `canvas` [3, H, W] (floats) with its top-left corner at (top, left);
    whatever falls outside the canvas is cut off."""
    mask = text_mask(text, scale)
    _, height, width = canvas.shape
    rows = slice(max(0, top), min(height, top + mask.shape[0]))
    cols = slice(max(0, left), min(width, left + mask.shape[1]))
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return
    piece = mask[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    ink = torch.as_tensor(colour, dtype=canvas.dtype).view(3, 1, 1)
    region = canvas[:, rows, cols]
    canvas[:, rows, cols] = torch.where(piece, ink, region)


INK = (0.15, 0.15, 0.15)
SCALE = 2  # text size: 14-pixel capitals


def _number(value: float) -> str:
    return f"{value:.3g}"


class Figure(NamedTuple):
    image: torch.Tensor  # uint8 [H, W, 3]
    origins: list[tuple[int, int]]  # (top, left) pixel of each panel
    size: int  # each panel's side in pixels


def labelled_panels(
    panels: list[torch.Tensor], titles: list[str], extent, names: tuple[str, str], zoom: int
) -> Figure:
    """Square RGB panels [3, n, n] (first coordinate left to right, second bottom to top), each
    enlarged `zoom` times, side by side on white with its title above, the first coordinate's
    range and name below each, the second's left of the first."""
    size = panels[0].shape[-1] * zoom
    (low0, high0), (low1, high1) = extent
    line, gap = HEIGHT * SCALE, 4 * SCALE
    left_labels = [_number(high1), names[1], _number(low1)]
    margin = max(text_width(t, SCALE) for t in left_labels) + 2 * gap
    top = line + 2 * gap
    spacing = 3 * gap
    width = margin + len(panels) * size + (len(panels) - 1) * spacing + gap
    height = top + size + 2 * gap + line
    canvas = torch.ones(3, height, width, dtype=torch.float64)
    origins = [(top, margin + index * (size + spacing)) for index in range(len(panels))]
    for (_, x), panel, title in zip(origins, panels, titles, strict=True):
        big = panel.double().repeat_interleave(zoom, 1).repeat_interleave(zoom, 2)
        canvas[:, top : top + size, x : x + size] = big
        draw(canvas, title, gap, x + (size - text_width(title, SCALE)) // 2, INK, SCALE)
        below = top + size + gap
        draw(canvas, _number(low0), below, x, INK, SCALE)
        high = _number(high0)
        draw(canvas, high, below, x + size - text_width(high, SCALE), INK, SCALE)
        draw(canvas, names[0], below, x + (size - text_width(names[0], SCALE)) // 2, INK, SCALE)
    rows = (top, top + (size - line) // 2, top + size - line)
    for text, row in zip(left_labels, rows, strict=True):
        draw(canvas, text, row, margin - gap - text_width(text, SCALE), INK, SCALE)
    image = (canvas * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
    return Figure(image, origins, size)
