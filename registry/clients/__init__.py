"""Clients of services outside Modelgate that the domain itself calls.

Each is a leaf: it speaks one outside protocol and imports nothing else of Modelgate's, so
:mod:`registry.domain` may call it without an arrow pointing back up. Today: an RFC 3161
time-stamping authority (:mod:`~registry.clients.timestamping`), which audit checkpoints
are stamped by.
"""
