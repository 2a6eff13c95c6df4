"""The doors to the outside: OCI (behind a Protocol), Object Storage, Kubernetes."""
