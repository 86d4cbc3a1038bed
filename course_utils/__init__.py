"""Shared helpers for the course "Seeing inside convolutional networks"."""
__version__ = "0.1.0"
