"""The replay of a past incident.

The read-only replay window, its timeline bar (play, pause, speed, seek), and the charts synced
with the timeline.
"""
