"""Statistics of a tensor, computed inside the user's process as a guest: ``summarize`` ->
``TensorSummary`` (``tensor_summary``), the values a summary can read (``readable``), the
passes over the values (``stats``: ``measure``, ``moments``, and ``compute(x, names)`` for
conditions, with the one list of statistic names in ``names``), the fused C kernel
(``native`` + ``csrc/``) and its torch fallback (``torch_pass``, ``reductions``), block walking
(``blocks``), binning (``histogram``), dtypes (``dtypes``) and the one text of a summary
(``text``).

May import: ``tensorpeek.common``. Never anything above it (engine, agent, debugger, report,
render, cli). Importing this package loads nothing; its modules import torch.
"""
