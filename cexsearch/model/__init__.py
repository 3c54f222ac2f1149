"""The layer model: layers, piecewise-linear activations and losses (registries), and :class:`Model`."""

from .activations import ACTIVATIONS, Piece, PiecewiseLinear, activation
from .layers import LAYERS, Activation, Flatten, Layer, LayerSettings, Linear, Ops
from .losses import LOSSES, Loss, loss
from .model import Model, Parameter
from .notation import parse_model

__all__ = ["ACTIVATIONS", "LAYERS", "LOSSES", "Activation", "Flatten", "Layer", "LayerSettings", "Linear", "Loss",
           "Model", "Ops", "Parameter", "Piece", "PiecewiseLinear", "activation", "loss", "parse_model"]
