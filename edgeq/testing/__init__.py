"""Test doubles at the hardware boundary, and launchers for real services tests talk to.

Nothing here is used by edgeq itself at run time.
"""
