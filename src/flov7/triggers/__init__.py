"""Runs that start by themselves: schedules (on Temporal Schedules).

:mod:`flov7.triggers.schedules` holds the engine-free part (what a schedule says, how
it is checked, what the API answers); the Temporal engine implements it in
:mod:`flov7.temporal.schedules`. See docs/triggers.md.
"""
