"""The console's map.

The map view (schools, roads, perimeters, staging areas and responders, drawn with pyqtgraph),
the editing of the incident's areas on it, and the optional offline MBTiles raster basemap.
"""
