"""LM Archive's desktop front end: a thin Qt layer over the :mod:`lmarchive` core.

The package splits like qutebrowser or Picard do: windows and views (main_window, its actions
table and pages, entry_model, ratio_delegate, progress_panel, settings_dialog, about_dialog), the
flows the window runs (job_controller, write_flow, extract_flow, drop_in, drag_out, about_flow),
the job runner (worker on the Qt side, worker_process in the child process), persistent settings,
and OS hooks (application, single_instance).  Nothing here re-implements archive logic; every
operation is a core job.  Importing this package imports no Qt, so the worker process stays light.
"""

APP_NAME = "LM Archive"
APP_ID = "lmarchive"
"""Folder name used for the config, cache and log directories."""
