"""The console's Qt widgets: a thin view over :class:`dispatch_console.app.live.ConsoleState`."""
