"""WHIP (RFC 9725): publishing over WebRTC, with aiortc doing ICE, DTLS and SRTP.

What is ours: the HTTP exchange (offer, answer, ``Location``, DELETE) and its errors,
feeding the engine's encoded packets to aiortc's RTP senders, sender reports stamped on
the capture clock, and reading the receiver's feedback (PLI/FIR, NACK, REMB, reports).
Like ``ionia.rtmp``, this package uses nothing of Ionia but the errors and the masking,
and the worker lifecycle for the thread its event loop runs on.
"""
