"""What a training run looks like over time, captured with no change to the user's code.

While tensorpeek counts steps (anything armed, ``tensorpeek run`` / ``doctor``, ``watch``, the
framework callbacks) ``capture`` takes the loss ``backward()`` starts from, each param group's
learning rate, the total gradient norm (before and after ``clip_grad_norm_``) and each layer's
update ratio every few steps, into the bounded series of ``series``; ``tensorpeek.log`` adds
metrics. ``graph`` traces which module feeds which from one forward pass per root and input
shapes. ``analysis`` (spikes, plateaus, learning-rate problems, node health) works on plain
numbers and is shared with the report.

Owns: ``series`` (torch-free store), ``capture``, ``graph``, ``analysis`` (torch-free),
``log``. May import ``common`` and ``summary``; torch only inside functions; never ``render``,
``report``, ``cli`` or matplotlib. Importing this package imports nothing.
"""
