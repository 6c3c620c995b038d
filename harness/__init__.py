"""harness: MLPerf-style ResNet-50 inference benchmark for CPU servers."""

__version__ = "0.1.0"
