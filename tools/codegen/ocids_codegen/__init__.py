"""Dev-time generators: the CRDs, the chart's RBAC rules and the kustomize install, from the operator's
own models and rule list. Never imported by the operator at run time."""
