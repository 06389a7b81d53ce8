"""The modelhub domain: entities, field declarations, rules, the filter language,
ports and services.

Pure Python: nothing here imports a framework or an outer layer.
"""
