"""The ``dfmi`` command line."""
