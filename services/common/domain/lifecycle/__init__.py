"""The alert lifecycle per (rule, group key): episodes, series per trigger type, transitions and the ACK SLA."""
