"""The semantics: one forward pass and backprop (:func:`trace`) over interchangeable algebras."""

from .algebra import Algebra, ConcreteAlgebra, Selection
from .exact import EXACT, ExactAlgebra
from .floats import FLOAT, FloatAlgebra, to_float
from .trace import LayerTrace, Trace, trace

__all__ = ["EXACT", "FLOAT", "Algebra", "ConcreteAlgebra", "ExactAlgebra", "FloatAlgebra", "LayerTrace",
           "Selection", "Trace", "to_float", "trace"]
