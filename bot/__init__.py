"""Sanad bot: the answer service, its adapters and the command line."""

__version__ = "0.1.0"
