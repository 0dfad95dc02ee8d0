"""OpenTelemetry tracing of the pipeline: set up from the OTEL_* variables (`setup.py`), spans (`spans.py`)."""
