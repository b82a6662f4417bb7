"""The send buffer between the encoders (producers) and the sender thread (consumer).

:class:`StreamBuffer` is the buffer and its drop policy (``stream_buffer``), over a
:class:`PacketQueue` (``packet_queue``); :class:`BufferConfig` holds its limits
(``limits``) and :class:`BufferStats` what it reports (``stats``).
"""

from ionia.buffer.limits import BufferConfig
from ionia.buffer.packet_queue import PacketQueue
from ionia.buffer.stats import BufferStats
from ionia.buffer.stream_buffer import StreamBuffer

__all__ = ["BufferConfig", "BufferStats", "PacketQueue", "StreamBuffer"]
