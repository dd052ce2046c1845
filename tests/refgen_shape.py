"""refgen_shape.py - gen_reference.py's tokens and cases for the shape op family.

Tokens (name:args, see gen_reference.py):
  (none yet)
"""

OPS = {}


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    pass
