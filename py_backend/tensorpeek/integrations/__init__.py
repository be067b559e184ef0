"""Framework integrations: a PyTorch Lightning ``Callback`` (``integrations.lightning``) and a
Hugging Face ``TrainerCallback`` (``integrations.hf``). Each arms tensorpeek's capture for the
fit (counting steps, so the loss, learning rates and norms are captured), traces the model's
graph, and takes the framework's logged metrics into ``tensorpeek.log`` at the framework's
global step.

May import ``training``, ``common`` and the frameworks (only in the module that needs one:
importing ``tensorpeek.integrations.hf`` does not import Lightning). Never ``render``,
``report``, ``cli`` or matplotlib.
"""
