"""Convert: ONNX graphs to .tflite without TensorFlow, and LiteRT's own int8 quantizer.

May import compress (graph helpers) and the base modules only.
"""
