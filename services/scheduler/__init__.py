"""Scheduler service: cron rules, metric polling and timers."""
