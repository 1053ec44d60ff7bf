"""Exporting a generator checkpoint to a verified ONNX model (needs the ``[torch]`` extra)."""
