"""The console's panels, each a dock of the main window.

Alerts, the responder detail, the event log, the responders table, friendly-fire warnings, PAR
(personnel accountability), broadcasts, agency rules, and the incident commander's small dialogs.
"""
