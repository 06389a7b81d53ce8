"""Application services: one class per resource, one method per API action.

Every method takes the acting user first and raises domain errors. Services
never commit: the caller's unit of work does.
"""
