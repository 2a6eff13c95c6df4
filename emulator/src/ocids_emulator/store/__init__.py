"""Persistence (one SQLite file, read from memory) and the paging of list results."""
