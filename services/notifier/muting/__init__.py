"""What the muting stage reads: the tenants' silences and inhibit rules, and their open alerts, kept in memory."""
