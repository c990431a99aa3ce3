"""Veilleur: attention signals for eight predetermined situations in video, never about people."""

__version__ = "0.1.0"
