"""Alertmanager's inhibit rules: open source alerts that mute target alerts sharing the `equal` labels."""
