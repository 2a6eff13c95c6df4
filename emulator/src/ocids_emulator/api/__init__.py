"""The HTTP surfaces: one subpackage per OCI service, plus the emulator's own ``/_emulator`` admin API."""
