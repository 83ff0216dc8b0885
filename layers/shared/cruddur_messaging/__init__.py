"""Shared code of the Cruddur Messaging functions, deployed as the SharedLayer (``/opt/python``)."""
