"""Batch scripts: the same services as the API, inside ``transaction.manager``.

``main`` runs a ``modelhub`` command, ``parser`` declares the commands and
their options, ``users``, ``mirror``, ``migrate`` and ``maintenance`` hold
the commands, ``output`` what they print; ``initdb`` and ``create_user`` are
the one-step scripts for a first start.
"""
