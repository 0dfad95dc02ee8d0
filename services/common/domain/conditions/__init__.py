"""Condition trees in three-valued logic and the RE2 regular expressions their `regex` leaves run."""
