"""Batch scripts: the same services as the API, inside ``transaction.manager``."""
