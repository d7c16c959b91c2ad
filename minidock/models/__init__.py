"""The objects the Python API hands out, shaped like docker-py's ``docker.models``."""
