"""Pure reconcile logic: no kopf, no oci, no I/O (the import-boundary test holds it to that)."""
