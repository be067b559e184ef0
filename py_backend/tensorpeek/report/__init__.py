"""The report ``tensorpeek run`` and ``doctor`` write: its model and JSON (``model``), hits
folded into findings (``findings``), the terminal text of the findings (``terminal``), the
HTML page (``html``, pictures from ``tensorpeek.render``) and writing the files (``write``).

Reads the JSON forms only. May import: ``tensorpeek.render``, ``tensorpeek.summary.text`` and
``tensorpeek.common``; never torch, the engine, the agent or the debugger.
"""
