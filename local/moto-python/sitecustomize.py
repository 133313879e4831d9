# Loaded by the moto_server that local/moto-server.ts starts (this folder is first on its
# PYTHONPATH). moto's EventBridge builds a JSONPath parser (a PLY grammar) anew for each of the
# eight input paths of every target an event matches: 150-650 ms per matched PutEvents on these
# machines, where AWS delivers in tens of milliseconds. The parse of a path string is pure, so it
# is kept: the same events, the same deliveries, in a few milliseconds.
try:
    import functools

    import jsonpath_ng.ext as _jsonpath_ext

    _jsonpath_ext.parse = functools.lru_cache(maxsize=512)(_jsonpath_ext.parse)
except ImportError:
    # A moto without jsonpath_ng has no such parse to keep.
    pass
