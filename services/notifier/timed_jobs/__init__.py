"""Timer jobs in the delivery stream: storm digest windows and alert group flushes and repeats."""
