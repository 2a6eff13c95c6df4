"""`make demo`: the quick start of ocids-operator, from nothing to two finished training runs.

`demo.py up` brings up a control plane (or uses $KUBECONFIG), the OCI emulator and the operator as
background processes, applies examples/quickstart/ and shows the runs' status, links and logs;
`demo.py down` stops everything `up` started. State and logs live in $OCIDS_DEMO_DIR (default
`.demo/` in the repository).
"""
