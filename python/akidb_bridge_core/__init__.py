"""AkiDb.Queue's Python bridge: runs ONNX Runtime embedding models for the C#
worker over stdin/stdout frames (docs/bridge-protocol.md).

Kept import-light on purpose: ``protocol`` and ``logs`` need only the standard
library, so clients and tests can use them without numpy or ONNX Runtime.
"""

__version__ = "1.0.0"
from .protocol import PROTOCOL_VERSION  # noqa: E402  (from protocol.json, shared with the C# side)
