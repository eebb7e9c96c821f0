"""Backends that only tests use, importable by name so child processes find them too
(``ANNOTATOR_PLUGINS=tests.plugins.crashing``, or a class pickled by reference)."""
