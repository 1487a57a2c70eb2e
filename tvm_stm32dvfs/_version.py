"""The package version, apart from the package root so that any stage may read it."""

__version__ = "0.1.0"
