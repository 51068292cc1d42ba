"""Native kernels that back genjax's layers on one backend (see cpu_conv)."""
