"""P-FES Studio core: everything the CLI, the training worker and the GUI share. Never imports Qt."""

__version__ = "0.1.0"
