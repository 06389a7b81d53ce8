"""Entrypoints: the HTTP API (``web``), the batch scripts (``cli``) and the
composition root (``bootstrap``) they share."""
