"""The driver: what runs inside an OCI job run when a TrainingJob needs a runtime.

The operator zips these modules as ``ocids_driver/`` next to the user's code in ``code/`` and sets
``JOB_RUN_ENTRYPOINT=ocids_driver/main.py``; the driver reads its instructions from the
``OCIDS_DRIVER_*`` environment variables. It runs in whatever conda environment the job uses, so it
needs only the standard library (Python 3.8+) and imports ``oci`` lazily, for Vault reads and the
outputs upload. A change here must bump ``DRIVER_VERSION``: it is part of the job template, so the
next run uses a new job revision with the new driver.
"""

DRIVER_VERSION = "1"


class DriverError(Exception):
    """The driver cannot do what its environment asks; the message names the variable to fix."""
