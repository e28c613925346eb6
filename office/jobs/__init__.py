"""The head office's scheduled work (``forecourt office serve``), in one scheduler.

office.jobs.schedule builds the jobs; office.jobs.models keeps their marks.
"""
