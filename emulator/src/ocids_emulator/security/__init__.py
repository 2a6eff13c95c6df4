"""Who is calling: request signatures checked against the tenancy's API keys."""
