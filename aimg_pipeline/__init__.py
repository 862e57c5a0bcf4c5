"""AImagine emission pipeline."""

__version__ = "0.1.0"
