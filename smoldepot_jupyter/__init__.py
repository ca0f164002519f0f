"""smoldepot_jupyter: a code agent that lives in the notebook.

The model writes Python; a sidecar Jupyter kernel runs it; every step shows inline.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
