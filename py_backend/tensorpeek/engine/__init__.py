"""The tensor-breakpoint engine: arm breakpoints, watch PyTorch's hooks, decide where a bad
value starts, and stop there.

- ``api``: ``break_on``, ``breakpoints(...)``, ``clear``, ``hits``, ``set_breakpoints`` (the
  public facade re-exports these);
- ``breakpoint`` (``Breakpoint``), ``spec`` (the ``TARGET:SITE:CONDITION`` parser),
  ``conditions`` (presets and checked expressions);
- ``registry``: the torch-free state (breakpoints, the hit ring, the pause stack) the agent
  reads at every stop;
- ``hooks`` (PyTorch's global module hooks, installed only while armed) with ``grad_hooks``
  (their backward half) and ``events``, ``dispatch`` (event ->
  condition -> hit), ``origin`` (the origin rules), ``compile_warnings``;
- ``hit`` (``Hit`` and its one text), ``pause`` (debugger / pdb / raise / log / record),
  ``history`` (per-layer rings), ``deferred`` (device-side checks read once per step),
  ``autoarm`` (``TENSORPEEK_BREAKPOINTS`` through the ``.pth`` line).

May import: ``tensorpeek.summary`` and ``tensorpeek.common``. Never ``render``, ``report``,
``cli`` or matplotlib. ``registry``, ``hit``, ``history``, ``spec``, ``conditions`` and
``breakpoint`` import no torch at import time.
"""
