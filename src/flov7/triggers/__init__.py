"""Runs that start by themselves: schedules and inbound webhooks.

:mod:`flov7.triggers.schedules` holds the engine-free part of schedules (what one says,
how it is checked, what the API answers), implemented on Temporal Schedules
(:mod:`flov7.temporal.schedules`) and by the local scheduler
(:mod:`flov7.local.schedules`); :mod:`flov7.triggers.hooks` checks and shapes inbound
webhook calls, which start runs through the run service. See docs/triggers.md.
"""
