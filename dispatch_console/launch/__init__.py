"""How a console is put together and started: the composition roots, above ``ui/``.

:mod:`.console` builds the store feed, the command runner, the embedded gateway (and the demo's
simulator), the console state and the window, wires them together and runs the event loop;
:mod:`.screenshot` plays the demo scenario through a gateway into a throw-away store and grabs
a read-only window at a fixed moment. ``ui/`` holds only the views these assemble and never
imports this package.
"""
