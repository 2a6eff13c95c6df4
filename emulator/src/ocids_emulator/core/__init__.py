"""What every surface shares: the emulator's state, OCI errors, ids, times, logs and request counts."""
