"""`edgeq advise`: the measured best way to run a model on a board, within an accuracy budget."""

from edgeq.advise.api import Advice, advise

__all__ = ["Advice", "advise"]
