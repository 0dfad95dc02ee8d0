"""The pure domain core, one package per noun (rules, conditions, windows, lifecycle, ...). No I/O, no clock reads."""
