"""The one exception every operator command raises for a failure it explains itself."""


class OpsError(Exception):
    """A failure explained in one line to the operator: printed as ``<prog>: error: <message>``, exit 1."""
