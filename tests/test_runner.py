"""Runner pieces that need no pipeline run: schema staging, Beam options, progress lines, CLI errors."""

import logging
import os

from runner import cli, local
from runner.progress import ComponentProgress


def test_staged_schema_path_follows_its_content(tmp_path):
    schema = tmp_path / 'schema.pbtxt'
    schema.write_text('feature { name: "a" type: INT }\n')
    first = local.stage_schema(str(schema), str(tmp_path / "home"))
    assert local.stage_schema(str(schema), str(tmp_path / 'home')) == first
    schema.write_text('feature { name: "a" type: FLOAT }\n')
    second = local.stage_schema(str(schema), str(tmp_path / 'home'))
    assert second != first
    assert open(second).read() == schema.read_text()
    assert 'INT' in open(first).read()


def test_direct_runner_options_follow_data_size(tmp_path):
    (tmp_path / 'small.csv').write_text('a,b\n1,2\n')
    assert '--direct_running_mode=in_memory' in local.direct_runner_args(str(tmp_path))
    big = tmp_path / 'big.csv'
    with open(big, 'wb') as f:
        f.truncate(local.IN_MEMORY_MAX_BYTES + 1)  # sparse: no disk used
    args = local.direct_runner_args(str(tmp_path))
    assert '--direct_running_mode=multi_processing' in args
    assert f'--direct_num_workers={os.cpu_count()}' in args
    assert local.direct_runner_args(str(tmp_path), 'in_memory') == (
        '--direct_running_mode=in_memory', '--direct_num_workers=1')
    assert local.direct_runner_args(str(tmp_path), 'multi_threading') == (
        '--direct_running_mode=multi_threading', f'--direct_num_workers={os.cpu_count()}')


def _record(msg, *args):
    return logging.LogRecord('absl', logging.INFO, __file__, 1, msg, args, None)


def test_progress_prints_one_line_per_component(capsys):
    import sys
    progress = ComponentProgress(sys.stdout)
    progress.emit(_record('Component %s is running.', 'Trainer'))
    progress.emit(_record('unrelated %s', 'noise'))
    progress.emit(_record('Component %s is finished.', 'Trainer'))
    progress.emit(_record('Component %s is running.', 'Pusher'))
    progress.emit(_record('A cached execution %d is used.', 7))
    progress.emit(_record('Component %s is finished.', 'Pusher'))
    progress.emit(_record('Component %s is running.', 'Evaluator'))
    progress.fail()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert 'Trainer' in lines[0] and lines[0].endswith(' s')
    assert 'Pusher' in lines[1] and lines[1].endswith('(cached)')
    assert 'Evaluator' in lines[2] and lines[2].endswith('FAILED')
    assert [name for name, _, _ in progress.timings] == ['Trainer', 'Pusher']
    assert progress.current == 'Evaluator'


def test_cli_rejects_a_missing_data_root(tmp_path, capsys):
    code = cli.main(['local', '--home', str(tmp_path), '--data-root', str(tmp_path / 'nope')])
    assert code == 2
    assert 'is not a directory' in capsys.readouterr().err


def test_draft_schema_needs_a_previous_run(tmp_path, capsys):
    assert cli.main(['draft-schema', '--home', str(tmp_path)]) == 1
    assert 'run `python -m runner local` first' in capsys.readouterr().err
