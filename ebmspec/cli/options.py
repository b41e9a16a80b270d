"""Command-line options the library knows no flags for: `--device` and `--capture`.

In: the option's text. Out: the value the library takes (a device name, a torch.compile mode or
None), or a located E928 / E931 on the option when this machine cannot honour it.
"""

from __future__ import annotations

from ebmspec.diagnostics import argument_error


def resolve_device(choice: str) -> str:
    """`auto` -> cuda when available, else cpu; `cuda` on a machine without it is E928."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        message = "CUDA is not available on this machine (this torch build or its drivers)"
        help = "use `--device cpu`, or install a CUDA build of torch on a machine with a GPU"
        raise argument_error("--device", choice, "E928", message, 0, len(choice), help)
    return choice


def resolve_capture(choice: str, device: str) -> str | None:
    """`--capture off|compile|graphs` -> the torch.compile mode (None: the eager loop); `graphs`
    (CUDA-graph replay) off CUDA is E931."""
    from ebmspec.runtime.sampling.capture import CAPTURE_MODES

    if choice == "graphs" and not device.startswith("cuda"):
        message = f"CUDA graphs need a CUDA device, and this run is on `{device}`"
        help = "use `--capture compile` (torch.compile without CUDA graphs), or `--device cuda`"
        raise argument_error("--capture", choice, "E931", message, 0, len(choice), help)
    return CAPTURE_MODES[choice]
