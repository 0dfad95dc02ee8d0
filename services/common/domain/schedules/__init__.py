"""What the scheduler decides, pure: cron schedules in a time zone and metric-polling targets."""
