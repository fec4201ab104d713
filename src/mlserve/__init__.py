"""Serving side of the template: a thin Flask app over the exported ONNX bundle. No training imports."""
