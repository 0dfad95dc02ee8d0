"""Delivery: jobs, one attempt of a job, its result, retries, and what a failed delivery publishes."""
