"""The Numenta Anomaly Benchmark: corpus reading, the NAB scorer, and a runner over our streaming detectors."""
