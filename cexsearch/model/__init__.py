"""The layer model: layers, piecewise-linear activations and losses (registries), and :class:`Model`."""

from . import conv, pool, residual  # noqa: F401  (each registers its layers)
from .activations import ACTIVATIONS, Piece, PiecewiseLinear, activation
from .conv import Conv1d, Conv2d
from .layers import LAYERS, Activation, Flatten, Layer, LayerSettings, Linear, Ops
from .losses import LOSSES, Loss, loss
from .model import LayerInfo, Model, Parameter, Site
from .notation import parse_model
from .pool import AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .residual import Residual

__all__ = ["AvgPool1d", "AvgPool2d", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "Residual", "ACTIVATIONS", "LAYERS", "LOSSES", "Activation", "Flatten", "Layer", "LayerSettings", "Linear", "Loss",
           "LayerInfo", "Model", "Ops", "Parameter", "Site", "Piece", "PiecewiseLinear", "activation", "loss", "parse_model"]
