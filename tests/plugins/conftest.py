"""Shared by the plugin tests: puts this folder on ``sys.path`` (pytest's prepend import mode) so that
both plugins' zoo tests import :mod:`zoo_check`."""
