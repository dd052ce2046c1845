"""refgen_linalg.py - gen_reference.py's tokens and cases for the linalg op family.

Tokens (name:args, see gen_reference.py):
  (none yet)
"""

OPS = {}


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    pass
