"""Running job runs: artifacts unpacked into a working folder, one process (or timer) per run."""
