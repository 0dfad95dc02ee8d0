"""The pure domain core: rules, conditions, windows, alert lifecycle. No I/O, no clock reads."""
