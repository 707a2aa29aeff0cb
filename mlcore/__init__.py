"""Everything about the network that needs no web framework.

The CNN definition, data loading, training, evaluation, the model bundle and inference live here as plain
Python, so the site, the management commands and scripts all use the same code.
"""
