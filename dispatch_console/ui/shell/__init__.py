"""The console window's frame and what every panel uses.

The main window and its docks, what it asks of every panel (:class:`.panel.Panel`: refresh and
theme), the incident header, the radio broadcast line, the scrolling card
column, the shared selection of responders, the two themes and status palette, who is at the
console (the user, signing in and the session lock), and the audible alarm.
"""
