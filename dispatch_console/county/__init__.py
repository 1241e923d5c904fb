"""A demo county (roads, schools with pre-plans, agencies, a roster, devices) and the road
graph a simulator drives responders along.

- :mod:`~dispatch_console.county.roads`: a road graph and quickest routes.
- :mod:`~dispatch_console.county.generate`: writes a fictional county's files, deterministic
  per seed (``tools/generate_demo_county.py``; the result is ``resources/demo/``).
- :mod:`~dispatch_console.county.load`: puts the demo county into a store, with keys.
"""
