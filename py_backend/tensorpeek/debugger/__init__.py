"""What the debugger shows for a tensor: the hover / Variables / Watch text and the cheap
children of a tensor (``presentation``), served to debugpy by
``pydevd_plugins/extensions/pydevd_plugin_tensorpeek.py``.

May import: ``tensorpeek.summary`` (inside functions: a hover on a non-tensor loads no torch)
and ``tensorpeek.common``. Never the breakpoint engine (a hover arms nothing) or the agent.
"""
