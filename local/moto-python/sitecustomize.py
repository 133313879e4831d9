# Loaded by the moto_server that local/moto-server.ts starts (this folder is first on its
# PYTHONPATH). Two changes to the emulator, each where AWS differs from moto on these machines.
import threading

# 1. moto's EventBridge builds a JSONPath parser (a PLY grammar) anew for each of the eight input
# paths of every target an event matches: 150-650 ms per matched PutEvents on these machines,
# where AWS delivers in tens of milliseconds. The parse of a path string is pure, so it is kept:
# the same events, the same deliveries, in a few milliseconds.
try:
    import functools

    import jsonpath_ng.ext as _jsonpath_ext

    _jsonpath_ext.parse = functools.lru_cache(maxsize=512)(_jsonpath_ext.parse)
except ImportError:
    # A moto without jsonpath_ng has no such parse to keep.
    pass

# 2. DynamoDB requests one at a time. moto serves each HTTP request on a thread of its own, and its
# TransactWriteItems is not isolated: it deep-copies each table it writes (time that grows with the
# table), applies its writes one by one, and when a condition fails puts the copy back, erasing
# every write another request made to that table meanwhile, acknowledged ones included. DynamoDB
# isolates a transaction from every other write, and one that fails changes nothing. The
# controller's clients give up on a call after 3 s and send it again: on a loaded machine a claim
# given up on was still copying the table when its retry landed and was acknowledged, then failed
# its condition and put its copy back, so the claim and the VIP record vanished
# (test/integration/moto-dynamodb-isolation.test.ts).
try:
    from moto.dynamodb.responses import DynamoHandler as _DynamoHandler
except ImportError:
    # Not moto's interpreter: nothing to change.
    _DynamoHandler = None

if _DynamoHandler is not None and not getattr(_DynamoHandler, "_one_request_at_a_time", False):
    _dynamodb_lock = threading.Lock()
    _call_action = _DynamoHandler.call_action

    def _call_action_alone(self):
        with _dynamodb_lock:
            return _call_action(self)

    _DynamoHandler.call_action = _call_action_alone
    _DynamoHandler._one_request_at_a_time = True
