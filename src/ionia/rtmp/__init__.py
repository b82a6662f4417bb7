"""RTMP(S) publishing, standalone: URLs, the handshake, chunks, AMF0 commands, the client.

It imports nothing of Ionia but the two modules at the bottom of the import graph,
``ionia.errors`` and ``ionia.redact`` (``tests/test_layers.py`` holds it to that).
"""
