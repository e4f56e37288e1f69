"""The tf.Example features a SavedModel parses, read from its graph at load.

Two things admission needs (serving/admission.py): how many features one
serialized example expands to, and, per signature, the names of the features
it takes, so that a request carrying others is refused before it is built (a
body of a few MB naming 300k features the model never reads cost ~60x its size).
The names come from the parsing ops the signature's input reaches, through the
functions a TF2 SavedModel calls; a key that is not a constant, or a sequence
parsing op, leaves the signature's names unknown (None): nothing is refused
by name then.
"""

from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

_EXAMPLE_OPS = ('ParseExample', 'ParseExampleV2', 'ParseSingleExample')
_SEQUENCE_OPS = ('ParseSequenceExample', 'ParseSequenceExampleV2',
                 'ParseSingleSequenceExample')


def features_per_example(graph_def) -> int:
    """The most features one parsing op of the graph (or of the functions in its
    library) extracts: what each serialized example sent to the model expands to."""
    most = 0
    for node, _ in _all_nodes(graph_def):
        if node.op in _EXAMPLE_OPS + _SEQUENCE_OPS:
            attr = node.attr
            count = (len(attr['Tdense'].list.type) + attr['num_sparse'].i + attr['Nsparse'].i
                     + attr['Ndense'].i + len(attr['ragged_value_types'].list.type))
            most = max(most, count)
    return most


def signature_features(meta_graph) -> Dict[str, Optional[FrozenSet[str]]]:
    """Signature name -> the feature names its tf.Example parsing takes (None where a
    key is not a constant, or it parses tf.SequenceExamples), for the signatures that
    parse tf.Examples."""
    graph_def = meta_graph.graph_def
    functions = {f.signature.name: f for f in graph_def.library.function}
    consumers: Dict[str, List] = {}
    for node in graph_def.node:
        for ref in node.input:
            consumers.setdefault(_node_name(ref), []).append(node)
    graph_nodes = {node.name: node for node in graph_def.node}
    found = {}
    for name, signature in meta_graph.signature_def.items():
        starts = [_node_name(info.name) for info in signature.inputs.values()]
        parsing = [(node, function) for node, function in
                   _reached(starts, consumers, functions)
                   if node.op in _EXAMPLE_OPS + _SEQUENCE_OPS]
        if parsing:
            found[name] = _names_parsed(parsing, graph_nodes, functions)
    return found


def _all_nodes(graph_def) -> Iterable[Tuple[Any, Optional[str]]]:
    """(node, the function holding it or None) for every node of the graph."""
    for node in graph_def.node:
        yield node, None
    for function in graph_def.library.function:
        for node in function.node_def:
            yield node, function.signature.name


def _node_name(ref: str) -> str:
    """The node an input reference names: '^a', 'a:1', 'a:output:0' -> 'a'."""
    return ref.lstrip('^').split(':', 1)[0]


def _called(node) -> List[str]:
    """The functions a node calls (StatefulPartitionedCall's f, While's body...)."""
    names = []
    for value in node.attr.values():
        if value.HasField('func'):
            names.append(value.func.name)
        names.extend(f.name for f in value.list.func)
    return names


def _reached(starts: List[str], consumers: Dict[str, List], functions: Dict) -> List[Tuple]:
    """(node, function name or None) of every node downstream of the start nodes in the
    graph, and of every node of the functions those call, transitively."""
    seen_nodes: Set[str] = set()
    queue = list(starts)
    reached: List[Tuple] = []
    called: List[str] = []
    while queue:
        for node in consumers.get(queue.pop(), ()):
            if node.name not in seen_nodes:
                seen_nodes.add(node.name)
                reached.append((node, None))
                called.extend(_called(node))
                queue.append(node.name)
    seen_functions: Set[str] = set()
    while called:
        name = called.pop()
        if name in seen_functions or name not in functions:
            continue
        seen_functions.add(name)
        for node in functions[name].node_def:
            reached.append((node, name))
            called.extend(_called(node))
    return reached


def _names_parsed(parsing: List[Tuple], graph_nodes: Dict,
                  functions: Dict) -> Optional[FrozenSet[str]]:
    """The keys of the parsing ops, if every one of them is a constant."""
    names: Set[str] = set()
    for node, function in parsing:
        if node.op in _SEQUENCE_OPS:
            return None
        scope = graph_nodes if function is None else {
            n.name: n for n in functions[function].node_def}
        keys = _keys(node, scope)
        if keys is None:
            return None
        names.update(keys)
    return frozenset(names)


def _keys(node, scope: Dict) -> Optional[List[str]]:
    """The feature keys of one parsing op, when they are constants."""
    attr = node.attr
    if node.op == 'ParseSingleExample':
        return [k.decode() for k in (*attr['sparse_keys'].list.s, *attr['dense_keys'].list.s)]
    if node.op == 'ParseExampleV2':
        refs = list(node.input[2:5])
    else:          # ParseExample: serialized, names, Nsparse sparse keys, Ndense dense keys
        refs = list(node.input[2:2 + attr['Nsparse'].i + attr['Ndense'].i])
    keys: List[str] = []
    for ref in refs:
        values = _constant_strings(ref, scope)
        if values is None:
            return None
        keys.extend(values)
    return keys


def _constant_strings(ref: str, scope: Dict, depth: int = 0) -> Optional[List[str]]:
    node = scope.get(_node_name(ref))
    if node is None or depth > 8:
        return None
    if node.op == 'Identity':
        return _constant_strings(node.input[0], scope, depth + 1)
    if node.op != 'Const':
        return None
    return [value.decode() for value in node.attr['value'].tensor.string_val]
