"""The whole system on this machine without Docker (``make dev``): moto, an embedded PostgreSQL, the HTTP API and
the stream poller of ``template.yaml``, with the functions running in execution environments of their own
(worker processes, ``runner.py``).

The shared layer is put on the path here, as ``/opt/python`` is in Lambda, so that every module of the package
(the seed uses the layer's item builders) imports it the way the functions do.
"""
from devtools.functions import ensure_layer_on_path

ensure_layer_on_path()
