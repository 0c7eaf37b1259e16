"""The demo brand, Northwind Outfitters: an outdoor-gear retailer with a web shop, stores and
a support desk, generated as files for the importers (``regard demo generate``) and loaded into
a database of its own and served (``regard demo run``, which ``make demo`` calls).
"""
