"""The files grokscan writes and reads (SCHEMA.md): the checkpoint file (writer.py, reader.py),
the metrics file (metrics.py), and the one format check they share (_format.py). Nothing is
imported here, so that each can be loaded alone."""
