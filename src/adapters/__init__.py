"""Adapters: implementations of the domain's ports."""
