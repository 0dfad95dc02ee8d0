"""What the notifier decides, pure: noise, grouping, templates, channel types, signatures, egress policy, reports."""
