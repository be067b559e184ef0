"""Small pieces every part shares: the one step counter (``steps``) and its optimizer hooks,
flattening module inputs and outputs into tensors (``flatten``), the one number formatter
(``numbers``), the shared vocabulary of sites and non-finite conditions (``vocabulary``) and
JSON-safe values (``json_safe``).

May import: nothing of tensorpeek (torch only inside functions that need it).
"""
