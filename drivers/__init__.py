"""Everything that touches hardware: pump lines and card readers.

Arrives with the pump-line and card-reader issues; the package exists now so the
layout is complete.
"""
