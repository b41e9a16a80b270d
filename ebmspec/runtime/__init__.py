"""Runtime: IR in, PyTorch modules out (energy today; kernels, schedules and training later)."""
