# Loaded by the moto_server that local/moto-server.ts starts (this folder is first on its
# PYTHONPATH). Changes to the emulator where AWS differs from moto on these machines: its speed
# (1, 3, 4, 5, 7-13) and the isolation of DynamoDB transactions (2).
import importlib
import threading


def _installed_module(name):
    """Module `name` (of moto or its HTTP server), or None in an interpreter without it (there is nothing to change)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# 1. moto's EventBridge builds a JSONPath parser (a PLY grammar) anew for each of the eight input
# paths of every target an event matches: 150-650 ms per matched PutEvents on these machines,
# where AWS delivers in tens of milliseconds. The parse of a path string is pure, so it is kept:
# the same events, the same deliveries, in a few milliseconds.
try:
    import functools

    import jsonpath_ng.ext as _jsonpath_ext
    import jsonpath_ng.ext.parser as _jsonpath_ext_parser

    # The grammar's tables are the same for every path: built once, by the first parse, not once
    # per new path (each took ~0.2 s of CPU, eight of them at a moto_server's first matched event).
    # One parse at a time, since PLY's parser keeps its state on itself while it parses.
    _jsonpath_parser = []
    _jsonpath_lock = threading.Lock()

    def _parse_with_one_grammar(path, debug=False):
        if debug:
            return _jsonpath_ext_parser.ExtendedJsonPathParser(debug=True).parse(path)
        with _jsonpath_lock:
            if not _jsonpath_parser:
                _jsonpath_parser.append(_jsonpath_ext_parser.ExtendedJsonPathParser())
            return _jsonpath_parser[0].parse(path)

    _jsonpath_ext.parse = functools.lru_cache(maxsize=512)(_parse_with_one_grammar)
except ImportError:
    # A moto without jsonpath_ng has no such parse to keep.
    pass

# 2. DynamoDB requests to one table one at a time. moto serves each HTTP request on a thread of its
# own, and its TransactWriteItems is not isolated: it deep-copies each table it writes (time that
# grows with the table), applies its writes one by one, and when a condition fails puts the copy
# back, erasing every write another request made to that table meanwhile, acknowledged ones
# included. DynamoDB isolates a transaction from every other write, and one that fails changes
# nothing. The controller's clients give up on a call after 3 s and send it again: on a loaded
# machine a claim given up on was still copying the table when its retry landed and was
# acknowledged, then failed its condition and put its copy back, so the claim and the VIP record
# vanished (test/integration/moto-dynamodb-isolation.test.ts). A request waits only for requests
# to the tables it names (a table's copy is put back over that table alone); requests that name
# none (ListTables, and PartiQL, which the project does not use) do not wait.
try:
    from moto.dynamodb.responses import DynamoHandler as _DynamoHandler
except ImportError:
    # Not moto's interpreter: nothing to change.
    _DynamoHandler = None


def _tables_named(params):
    names = set()
    if not isinstance(params, dict):
        return names
    if isinstance(params.get("TableName"), str):
        names.add(params["TableName"])
    if isinstance(params.get("RequestItems"), dict):
        names.update(name for name in params["RequestItems"] if isinstance(name, str))
    for item in params.get("TransactItems") or []:
        if isinstance(item, dict):
            for operation in item.values():
                if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                    names.add(operation["TableName"])
    return names


if _DynamoHandler is not None and not getattr(_DynamoHandler, "_one_request_per_table", False):
    import json

    _table_locks = {}
    _table_locks_guard = threading.Lock()
    _call_action = _DynamoHandler.call_action

    def _params_of(handler):
        params = getattr(handler, "params", None)
        if isinstance(params, dict) and params:
            return params
        try:
            return json.loads(handler.body or "{}")
        except (TypeError, ValueError):
            return {}

    def _call_action_per_table(self):
        with _table_locks_guard:
            # Always taken in the same order, so two requests naming the same tables cannot deadlock.
            locks = [_table_locks.setdefault(name, threading.Lock()) for name in sorted(_tables_named(_params_of(self)))]
        for lock in locks:
            lock.acquire()
        try:
            return _call_action(self)
        finally:
            for lock in reversed(locks):
                lock.release()

    _DynamoHandler.call_action = _call_action_per_table
    _DynamoHandler._one_request_per_table = True


# 3. What moto_server redoes for every request though it cannot change while it runs: the list of
# its service modules (a listdir of its package and a stat per entry, under the lock every request
# takes to find its service) and a response class's method names (inspect.getmembers). Kept after
# the first request: about a third of the CPU of a small request on these machines.
try:
    import moto.backends as _moto_backends
    import moto.core.responses as _moto_responses
except ImportError:
    _moto_backends = None

if _moto_backends is not None and not getattr(_moto_backends, "_modules_kept", False):
    _moto_modules = tuple(_moto_backends.list_of_moto_modules())
    _moto_backends.list_of_moto_modules = lambda: _moto_modules
    _moto_backends._modules_kept = True

    _method_names = {}
    _method_names_from_class = _moto_responses.method_names_from_class

    def _kept_method_names(clazz):
        names = _method_names.get(clazz)
        if names is None:
            names = _method_names[clazz] = _method_names_from_class(clazz)
        return list(names)

    _moto_responses.method_names_from_class = _kept_method_names


# 4. CloudFormation reads every template with PyYAML's pure-Python loader, JSON ones too (JSON is
# YAML), and falls back to json only when that fails: ~50 ms of CPU for each world's stack here.
# CloudFormation reads a JSON template as JSON; a template whose text is a JSON object is read
# with json first, and every other one as moto does. Changed when moto first loads its
# CloudFormation (loading it costs a second of CPU, which a server that never deploys a stack
# does not pay; the same holds for EC2, 7 and 10).
import importlib.abc
import json as _json
import sys

# Module name -> the changes made to it once it ran, for the modules a server loads only when a
# request first needs them.
_changes_after_import = {}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds the modules named in _changes_after_import as the other finders do, and changes each once it ran."""

    def find_spec(self, fullname, path=None, target=None):
        changes = _changes_after_import.get(fullname)
        if not changes:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                exec_module = spec.loader.exec_module

                def exec_then_change(module, exec_module=exec_module):
                    exec_module(module)
                    for change in changes:
                        change(module)

                spec.loader.exec_module = exec_then_change
                return spec
        return None


sys.meta_path.insert(0, _AfterImport())


def _after_import(name, flag, change):
    """Makes `change` to module `name` once it ran (at once if it did), and marks it with `flag` so it is made once."""

    def once(module):
        if getattr(module, flag, False):
            return
        change(module)
        setattr(module, flag, True)

    if name in sys.modules:
        once(sys.modules[name])
    else:
        _changes_after_import.setdefault(name, []).append(once)


def _json_object(text):
    if isinstance(text, str) and text.lstrip().startswith("{"):
        try:
            parsed = _json.loads(text)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _read_json_templates_as_json(models):
    parse_stack_template = models.Stack.parse_template
    parse_change_set_template = models.ChangeSet._parse_template

    def stack_template(template):
        parsed = _json_object(template)
        return parsed if parsed is not None else parse_stack_template(template)

    def change_set_template(self):
        parsed = _json_object(self.template)
        if parsed is None:
            parse_change_set_template(self)
        else:
            self.template_dict = parsed

    models.Stack.parse_template = staticmethod(stack_template)
    models.ChangeSet._parse_template = change_set_template



# 8. moto's ValidateTemplate runs cfn-lint over the template inside the request (1.5-1.9 s of CPU
# for the packaged template here, once per `serverless deploy`) and refuses the template on any
# finding, warnings and notes included. CloudFormation's ValidateTemplate checks the syntax only,
# not property values: a template that is not a JSON or YAML mapping (read as CreateStack reads
# it), has no Resources or a resource without a Type, is refused with a "Template format error",
# and everything else is accepted. That is what is checked here, so a deploy still fails on a
# template CloudFormation would refuse; the lint itself is the project's template tests', which
# run cfn-lint over the same packaged template.
def _validate_syntax_only(models):
    import yaml
    from moto.cloudformation.exceptions import ValidationError

    def format_error(text):
        return ValidationError(message=f"Template format error: {text}")

    def not_well_formed(template):
        # Where the parser of the template's language stopped (moto falls back from YAML to JSON).
        if _json_object(template) is None and template.lstrip().startswith("{"):
            try:
                _json.loads(template)
            except ValueError as error:
                return f"JSON not well-formed. (line {error.lineno}, column {error.colno})"
        try:
            yaml.load(template, Loader=yaml.Loader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            if mark is not None:
                return f"YAML not well-formed. (line {mark.line + 1}, column {mark.column + 1})"
        return "YAML not well-formed."

    def validate_template(self, template):
        if not isinstance(template, str) or not template.strip():
            raise ValidationError(message="Either Template URL or Template Body must be specified.")
        try:
            parsed = models.Stack.parse_template(template)
        except (ValueError, yaml.YAMLError):
            raise format_error(not_well_formed(template)) from None
        if not isinstance(parsed, dict):
            raise format_error(not_well_formed(template))
        resources = parsed.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise format_error("At least one Resources member must be defined.")
        for name, resource in resources.items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                raise format_error(f"[/Resources/{name}] Every Resources object must contain a Type member.")
        return []

    models.CloudFormationBackend.validate_template = validate_template



# 5. moto's TransactWriteItems keeps a deep copy of each table it writes, to put back when a
# condition fails; it copies a table once per item naming it (time that grows with the table),
# where the copies are all the same: nothing is written before the last one. One copy per table
# per transaction, the same state put back. The copy shares with the table the items under a
# partition key no item of the transaction names: the transaction replaces, deletes or updates
# only the items it names, and no other request writes the table while it runs (2), so those are
# the same objects in the same state either way. Copying them cost about a quarter of a
# transaction's CPU with a hundred items in the table. When the keys cannot be read (moto refuses
# the transaction then), the whole table is copied, as moto does.
try:
    import copy as _copy

    import moto.dynamodb.models as _dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType as _dynamo_type_of
    from moto.dynamodb.models.table import Table as _DynamoTable
except ImportError:
    _dynamodb_models = None

if _dynamodb_models is not None and not getattr(_dynamodb_models, "_one_copy_per_table", False):
    _transaction = threading.local()

    class _CopyOncePerTransaction:
        """The `copy` module as moto.dynamodb.models sees it: a table's copy made once per transaction."""

        def __getattr__(self, name):
            return getattr(_copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            kept = getattr(_transaction, "tables", None)
            if kept is None or memo is not None or not isinstance(value, _DynamoTable):
                return _copy.deepcopy(value, memo)
            if id(value) not in kept:
                kept[id(value)] = _copy.deepcopy(value, _items_left_alone(value))
            return kept[id(value)]

    def _items_left_alone(table):
        """A deepcopy memo that keeps the items under a partition key no item of the transaction names."""
        try:
            named = set()
            for transact_item in _transaction.items:
                for operation in transact_item.values():
                    if operation.get("TableName") == table.name:
                        key = operation["Key"] if "Key" in operation else operation["Item"]
                        named.add(_dynamo_type_of(key[table.hash_key_attr]))
            return {id(item): item for item in table.all_items() if item.hash_key not in named}
        except Exception:
            return None

    _transact_write_items = _dynamodb_models.DynamoDBBackend.transact_write_items

    def _transact_write_items_copying_once(self, transact_items):
        _transaction.tables = {}
        _transaction.items = transact_items
        try:
            return _transact_write_items(self, transact_items)
        finally:
            _transaction.tables = None
            _transaction.items = None

    _dynamodb_models.copy = _CopyOncePerTransaction()
    _dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items_copying_once
    _dynamodb_models._one_copy_per_table = True

# 6. EC2, IAM, STS and CloudFormation requests one at a time. moto serves each HTTP request on a
# thread of its own, and these backends keep their resources in plain dicts that a Describe or
# List walks while another thread's Create adds to them; under many concurrent worlds a run got an
# HTML 500 from inside moto ("mismatched tags <html>" in the SDK) while setting a world up. Python
# runs one thread at a time anyway, so this costs little; SQS (long polls) and DynamoDB (its own
# per-table order, 2) keep their threads. Reentrant: CloudFormation creates resources in the other
# backends from inside its request.
_BaseResponse = getattr(_installed_module("moto.core.responses"), "BaseResponse", None)

if _BaseResponse is not None and not getattr(_BaseResponse, "_one_request_at_a_time", False):
    _SERIALISED_SERVICES = ("moto.ec2.", "moto.iam.", "moto.sts.", "moto.cloudformation.")
    _serialised = threading.RLock()
    _base_call_action = _BaseResponse.call_action

    def _call_action_one_at_a_time(self):
        if not type(self).__module__.startswith(_SERIALISED_SERVICES):
            return _base_call_action(self)
        with _serialised:
            return _base_call_action(self)

    _BaseResponse.call_action = _call_action_one_at_a_time
    _BaseResponse._one_request_at_a_time = True

# Before any request's action, and so outside that lock, moto marks the role behind a role
# session's key as used, for every service: it finds the role by walking IAM's dict of roles,
# which a CreateRole on another thread (a world's stack) can grow meanwhile. A run with six test
# files side by side got "dictionary changed size during iteration" there: an HTML 500 from
# inside moto. The walk goes over a copy of the roles (taken at once under the GIL): the same role
# found, the same NotFound for an unknown one.
_iam_models = _installed_module("moto.iam.models")

if _iam_models is not None and not getattr(_iam_models.IAMBackend, "_roles_walked_on_a_copy", False):

    def _get_role_by_arn_on_a_copy(self, arn):
        for role in list(self.get_roles()):
            if role.arn == arn:
                return role
        raise _iam_models.NotFoundException(f"Role {arn} not found")

    _iam_models.IAMBackend.get_role_by_arn = _get_role_by_arn_on_a_copy
    _iam_models.IAMBackend._roles_walked_on_a_copy = True


# 7. moto finds the tags of an EC2 resource by running its DescribeTags filter over every tag of
# the region (a regular expression made from the resource's id, matched against each tagged
# resource's id), once per resource it describes or filters on a tag: a DescribeInstances or
# DescribeVpcs grows with the square of what the account holds, 15-30 ms each here once a run's
# worlds accumulate in one server. A resource's tags are the entry under its id (the id has no
# wildcard, so the filter matches that id alone): read directly, the same tags in the same order
# with the same fields. An id with a wildcard character goes the way moto does.
def _tags_read_by_id(core):
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    get_tags_filtered = core.TaggedEC2Resource.get_tags

    def get_tags(self):
        resource_id = self.id
        if not resource_id or not isinstance(resource_id, str) or any(c in resource_id for c in "*?[\\"):
            return get_tags_filtered(self)
        tags = self.ec2_backend.tags.get(resource_id)
        if not tags:
            return []
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
            for key, value in tags.copy().items()
        ]

    core.TaggedEC2Resource.get_tags = get_tags



# 9. moto checks DynamoDB's 400 KB item limit on every attribute it sets by summing the sizes of
# all the attributes already set, so building an item from a request (every PutItem, each item of
# a BatchWriteItem, each Put of a transaction) costs the square of its attributes (for an item of
# 40 attributes, a third of a PutItem's CPU here). While an item is being built from a request
# nothing else changes its attributes, so the sum is kept as it goes: the same sizes compared with
# the same limit at the same attribute, the same ItemSizeTooLarge.
_dynamo_type = _installed_module("moto.dynamodb.models.dynamo_type")

if _dynamo_type is not None and not getattr(_dynamo_type, "_item_size_summed_once", False):
    _item_size_limit = 405000  # moto's limit, between DynamoDB's 400 KB and what it accepts

    def _item_built_summing_once(self, hash_key, range_key, attrs):
        self.hash_key = hash_key
        self.range_key = range_key
        built = _dynamo_type.LimitedSizeDict()
        size = 0
        for key, value in attrs.items():
            value = _dynamo_type.DynamoType(value)
            added = _dynamo_type.bytesize(key) + value.size()
            if size + added > _item_size_limit:
                raise _dynamo_type.ItemSizeTooLarge
            dict.__setitem__(built, key, value)
            size += added
        self.attrs = built

    _dynamo_type.Item.__init__ = _item_built_summing_once
    _dynamo_type._item_size_summed_once = True


# 10. For each instance RunInstances launches, moto looks its image up with the DescribeImages
# filter image-id: a wildcard match against each of the ~1,200 images it knows in the region, ~5
# ms of CPU per instance here. An image id without a wildcard matches that image alone: it is
# looked up by its id, the same image or none. A filter with a wildcard goes the way moto does.
def _images_found_by_id(amis):
    describe_images = amis.AmiBackend.describe_images

    def describe_images_by_id(self, ami_ids=None, filters=None, exec_users=None, owners=None):
        if not ami_ids and not exec_users and not owners and isinstance(filters, dict) and list(filters) == ["image-id"]:
            image_id = filters["image-id"]
            if isinstance(image_id, str) and not any(c in image_id for c in "*?["):
                image = self.amis.get(image_id)
                return [image] if image is not None and image.id == image_id else []
        return describe_images(self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)

    amis.AmiBackend.describe_images = describe_images_by_id



# 11. moto writes every response member by trying the names the member may have on the model
# object (its own, its shape's, its class's prefix dropped, each also in snake_case): six alias
# rules instantiated and asked for every member of every object it writes, about a quarter of the
# CPU moto spends writing a DescribeInstances or a GetItem here. The names a rule gives depend
# only on the member's name, its shape and the shape it sits in, and the object's class (its Meta
# aliases, its class name), none of which changes while the server runs: the list is kept per
# those, and the values are looked up in the same order as before, so every response is written
# the same. Objects that carry their own Meta or compute attributes on demand, and rules other
# than moto's six, are asked every time as moto does.
_serialize = _installed_module("moto.core.serialize")

if _serialize is not None and not getattr(_serialize, "_member_names_kept", False):
    _known_alias_rules = frozenset(_serialize.DEFAULT_ALIAS_PROVIDERS)
    _member_names = {}
    _pick_value = _serialize.AttributePicker.__call__

    def _member_names_of(picker, context):
        obj = context.obj
        cls = type(obj)
        if (
            not _known_alias_rules.issuperset(picker.alias_providers)
            or "Meta" in getattr(obj, "__dict__", ())
            or hasattr(cls, "__getattr__")
        ):
            return None
        shape = context.shape
        parent = getattr(shape, "parent", None)
        kept_key = (type(picker), tuple(picker.alias_providers), cls, context.key, id(shape), id(parent))
        kept = _member_names.get(kept_key)
        # The shapes are held with their names, so that their ids stay theirs.
        if kept is None or kept[0] is not shape or kept[1] is not parent:
            kept = _member_names[kept_key] = (shape, parent, tuple(picker.get_possible_keys(context)))
        return kept[2]

    def _pick_value_by_kept_names(self, context):
        names = _member_names_of(self, context)
        if names is None:
            return _pick_value(self, context)
        obj = context.obj
        for name in names:
            value = _serialize.get_value(obj, name, _serialize.MISSING)
            if value is not _serialize.MISSING:
                break
        else:
            value = None
        if self.response_transformers:
            key_path = f"{context.key_path}.{context.key}"
            for transform_path, transform in self.response_transformers.items():
                if key_path.endswith(transform_path):
                    value = transform(value)
                    break
        return value

    _serialize.AttributePicker.__call__ = _pick_value_by_kept_names
    _serialize._member_names_kept = True


# 12. moto validates an update expression (UpdateItem, each Update of a transaction) by walking its
# syntax tree once per check, and two of its walks redo work per node: the list of node classes a
# check handles is built anew for every node visited, and the count of ADD, REMOVE and SET clauses
# (at most one each) is taken again for every node below the root by searching that node's whole
# subtree, which costs the square of the expression's size: most of the CPU of the project's
# UpdateItem and TransactWriteItems calls, whose expressions set a dozen attributes. The classes
# are the same for every node of a walk; the counts of a node are the sums of its children's,
# taken once per node as the walk goes up. The same clauses counted at the same nodes, in the same
# order, so the same expressions refused with the same TooManyClauses.
_ast_nodes = _installed_module("moto.dynamodb.parsing.ast_nodes")
_validators = _installed_module("moto.dynamodb.parsing.validators")

if _ast_nodes is not None and _validators is not None and not getattr(_validators, "_clauses_counted_once", False):
    _node_classes_of = _ast_nodes.DepthFirstTraverser.nodes_to_be_processed

    def _kept_node_classes(self):
        classes = self.__dict__.get("_kept_node_classes")
        if classes is None:
            classes = self.__dict__["_kept_node_classes"] = _node_classes_of(self)
        return classes

    _ast_nodes.DepthFirstTraverser.nodes_to_be_processed = _kept_node_classes

    # The clause classes in the order moto checks them, and the nodes its search descends into.
    _counted_clauses = (
        _ast_nodes.UpdateExpressionAddClause,
        _ast_nodes.UpdateExpressionRemoveClause,
        _ast_nodes.UpdateExpressionSetClause,
    )
    _searched_nodes = (_ast_nodes.Expression, _ast_nodes.UpdateExpressionFunction)
    _clause_names = ("ADD", "REMOVE", "SET")

    def _clause_counts(node, counted):
        kept = counted.get(id(node))
        if kept is not None and kept[0] is node:
            return kept[1]
        counts = [0, 0, 0]
        for child in node.children or []:
            below = _clause_counts(child, counted) if isinstance(child, _searched_nodes) else None
            for index, clause in enumerate(_counted_clauses):
                if type(child) is clause:
                    counts[index] += 1
                elif below is not None:
                    counts[index] += below[index]
        counted[id(node)] = (node, counts)
        return counts

    _traverse_counting = _validators.ActionCountValidator.traverse

    def _traverse_counting_once(self, node):
        self._clause_counts = {}
        try:
            return _traverse_counting(self, node)
        finally:
            self._clause_counts = {}

    def _verify_action_counts_once(self, node):
        counts = _clause_counts(node, self.__dict__.setdefault("_clause_counts", {}))
        for name, count in zip(_clause_names, counts):
            if count > 1:
                raise _validators.TooManyClauses(name)
        return node

    _validators.ActionCountValidator.traverse = _traverse_counting_once
    _validators.ActionCountValidator.verify_action_counts = _verify_action_counts_once
    _validators._clauses_counted_once = True


# 13. moto_server's HTTP server (werkzeug's) writes one line per request to stderr, formatted with
# the date and a colour for the status, through the logging module: about a sixth of the CPU of a
# small request here, and every line is read by the process that started the server. No line is
# read by anyone: what is kept of the stderr is an internal error's traceback and a failed start's
# message, which werkzeug writes through its error log, and those it still writes.
_serving = _installed_module("werkzeug.serving")

if _serving is not None and not getattr(_serving, "_request_lines_left_out", False):
    _serving.WSGIRequestHandler.log_request = lambda self, code="-", size="-": None
    _serving._request_lines_left_out = True


# The changes to the modules a server loads only when a request first needs them (4, 7, 8, 10).
_after_import("moto.cloudformation.models", "_json_templates_as_json", _read_json_templates_as_json)
_after_import("moto.cloudformation.models", "_templates_validated_as_cloudformation_does", _validate_syntax_only)
_after_import("moto.ec2.models.core", "_tags_read_by_id", _tags_read_by_id)
_after_import("moto.ec2.models.amis", "_images_found_by_id", _images_found_by_id)
