"""``nn.Module`` forms of the losses: one per entry of :mod:`focalloss.losses`."""

from .modules import *  # noqa: F403 (every loss of the registry)
from .modules import __all__  # noqa: F401
