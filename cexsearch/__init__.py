"""cexsearch: settle claims about neural-network gradients mechanically."""

__version__ = "0.1.0"
