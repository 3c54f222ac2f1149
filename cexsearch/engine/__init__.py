"""The engine: the only package that imports z3 (its algebra, later the encoding and the solver)."""
