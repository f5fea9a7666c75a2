"""The trace: one byte format for files, live streams and sockets."""
