"""The ``tensorpeek`` command: argument parsing (``main``), ``run``, ``doctor``, ``demo`` (with
its ``demo_scripts``), ``inspect_checkpoint``, running a user's script as ``__main__``
(``script``), the breakpoints armed around it (``session``), per-layer gradient norms
(``gradient_norms``) and the progress line (``progress``).

The only part that may depend on every other in-process part.
"""
