"""The modelhub domain: entities, rules, the filter language, ports and services.

Pure Python: nothing here imports a framework or an outer layer.
"""
