"""The ground floor of every file grokscan reads and writes: opening an HDF5 file and checking
its format and version (format.py), reading and clearing the SWMR writer flags of its superblock
(superblock.py), and the one-writer lock beside a file (lock.py). Both the checkpoint and metrics
files (grokscan/store) and the Ising data sets (grokscan/tasks/ising) are opened through it.

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""
