"""Export: a recorded run as a notebook that re-executes, and such a notebook back as a run."""

from .notebook import export_notebook, notebook_from_run, run_from_notebook

__all__ = ["export_notebook", "notebook_from_run", "run_from_notebook"]
