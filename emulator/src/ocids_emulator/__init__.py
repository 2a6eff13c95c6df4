"""ocids-emulator: a local server speaking the OCI Data Science Jobs and Logging REST contract."""

__version__ = "0.1.0"
