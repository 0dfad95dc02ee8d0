"""What comes into the notifier: alerts, ACK notices and channel tests, each turned into delivery work."""
