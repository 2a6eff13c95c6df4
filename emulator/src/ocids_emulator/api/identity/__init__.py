"""Keyless identity surfaces (issue 9): the OKE workload identity token exchange (``proxymux``)
and the resource principal session tokens ``ocids-emulator resource-principal`` writes."""
