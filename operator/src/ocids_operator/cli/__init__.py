"""`kubectl ocids`: follow TrainingJobRuns from a terminal (logs, runs, open, convert).

A kubectl plugin (the `kubectl-ocids` console script). It reads TrainingJobs and TrainingJobRuns with
the user's kubeconfig and OCI with the operator's own `OCIDS_*` settings and auth code, so it works
against a tenancy and the emulator alike.
"""
