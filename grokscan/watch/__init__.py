"""grokscan watch: a live view of a run file while training writes it."""
