"""The operator scripts of ``bin/`` (``bin/ddb/*``, ``bin/db/*``, ``bin/cognito/*``), one implementation.

Each executable in ``bin/`` is a few lines of bash that run ``python -m devtools.ops <group>/<command>`` with
the repository's ``.venv``. Commands act on the running local stack (``.local/stack.json``, or the file named
by ``CRUDDUR_STACK_FILE``) unless ``prod`` is their last argument (:mod:`devtools.ops.target`).

Importing the package puts the shared layer on ``sys.path``, as ``/opt/python`` is in Lambda: the commands
reuse its key formats and data access instead of keeping a copy.
"""
from devtools.functions import ensure_layer_on_path

ensure_layer_on_path()
