"""The files grokscan writes and reads (SCHEMA.md): the checkpoint file (writer.py, reader.py),
the metrics file (metrics.py), opened through grokscan/hdf5 (the one format check). Nothing is
imported here, so that each can be loaded alone.

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""
