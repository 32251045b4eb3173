"""Other tools' checkpoints as grokscan run files (``grokscan import``): Nanda's
progress-measures code, TransformerLens HookedTransformer state dicts, plain state-dict
folders and safetensors files (sources.py), mapped onto grokscan's transformer (params.py),
checked against the source model's own forward pass and written by the Recorder (run.py,
write.py).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""

from grokscan.importers.run import ImportOptions, import_run
from grokscan.importers.sources import FORMATS
from grokscan.importers.write import TOLERANCE

__all__ = ["FORMATS", "TOLERANCE", "ImportOptions", "import_run"]
