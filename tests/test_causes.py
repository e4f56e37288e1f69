"""An exception's chain of causes, as failures are judged by it."""

from common.causes import causes


def _raised_from(cause, error):
    try:
        raise error from cause
    except type(error) as raised:
        return raised


def test_the_chain_goes_through_causes_and_contexts_in_order():
    root = OSError(28, 'No space left on device')
    wrapped = _raised_from(root, RuntimeError('publish failed'))
    try:
        raise wrapped
    except RuntimeError:
        try:
            raise ValueError('while handling it')
        except ValueError as outer:
            assert list(causes(outer)) == [outer, wrapped, root]


def test_a_chain_that_loops_back_yields_each_error_once():
    first, second = RuntimeError('first'), RuntimeError('second')
    first.__cause__, second.__cause__ = second, first
    assert list(causes(first)) == [first, second]
