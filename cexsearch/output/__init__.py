"""Output: what a person or a program reads of an outcome.

* :mod:`.report`: Rich renderables (tables, verdict lines), built apart from printing.
* :mod:`.export`: JUnit XML, the check report document, GitHub annotations.
* :mod:`.schema`: the shipped JSON Schemas of every document cexsearch writes.
"""
