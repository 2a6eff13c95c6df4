"""Fault injection: the ``/_emulator/faults`` spec and the OCI behaviours it switches on."""
