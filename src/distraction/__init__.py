"""distraction: camera-based HR/BR measurement denoised with inverse attention."""

__version__ = "0.1.0"
