"""Small pieces every part shares: the one step counter (``steps``) and its optimizer hooks,
flattening module inputs and outputs into tensors (``flatten``), the one number formatter
(``numbers``), the shared vocabulary of sites and non-finite conditions (``vocabulary``),
JSON-safe values (``json_safe``), text safe to print on a terminal (``terminal_text``) and
the slot through which the engine announces a debugger stop (``stop_announcer``).

May import: nothing of tensorpeek (torch only inside functions that need it).
"""
