"""One run of a stream: its parts built from the settings, its destinations, its lifecycle.

``assembly`` builds sources, encoders, outputs and threads from a ``StreamConfig``;
``destinations`` holds the outputs the encoders feed (and retires a rotated one);
``session`` is the start/stop lifecycle, failure policy and statistics that the streamer
and the recorder share.
"""
