"""Runner pieces that need no pipeline run: schema staging, Beam options, progress
lines, CLI errors."""

import logging
import os

import pytest

from operations import execution, training_run
from runner import cli, commands
from runner.progress import TerminalProgress


def test_staged_schema_path_follows_its_content(tmp_path):
    schema = tmp_path / 'schema.pbtxt'
    schema.write_text('feature { name: "a" type: INT }\n')
    first = training_run.stage_schema(str(schema), str(tmp_path / "home"))
    assert training_run.stage_schema(str(schema), str(tmp_path / 'home')) == first
    schema.write_text('feature { name: "a" type: FLOAT }\n')
    second = training_run.stage_schema(str(schema), str(tmp_path / 'home'))
    assert second != first
    assert open(second).read() == schema.read_text()
    assert 'INT' in open(first).read()


def test_direct_runner_options_follow_data_size(tmp_path):
    (tmp_path / 'small.csv').write_text('a,b\n1,2\n')
    assert '--direct_running_mode=in_memory' in execution.direct_runner_args(str(tmp_path))
    big = tmp_path / 'big.csv'
    with open(big, 'wb') as f:
        f.truncate(execution.IN_MEMORY_MAX_BYTES + 1)  # sparse: no disk used
    args = execution.direct_runner_args(str(tmp_path))
    assert '--direct_running_mode=multi_processing' in args
    assert f'--direct_num_workers={os.cpu_count()}' in args
    assert execution.direct_runner_args(str(tmp_path), 'in_memory') == (
        '--direct_running_mode=in_memory', '--direct_num_workers=1')
    assert execution.direct_runner_args(str(tmp_path), 'multi_threading') == (
        '--direct_running_mode=multi_threading', f'--direct_num_workers={os.cpu_count()}')


def _record(msg, *args):
    return logging.LogRecord('absl', logging.INFO, __file__, 1, msg, args, None)


def test_progress_prints_one_line_per_component(capsys):
    import sys
    progress = execution.ComponentWatch(TerminalProgress(sys.stdout, 'run.log'))
    progress.emit(_record('Component %s is running.', 'Trainer'))
    progress.emit(_record('unrelated %s', 'noise'))
    progress.emit(_record('Component %s is finished.', 'Trainer'))
    progress.emit(_record('Component %s is running.', 'Pusher'))
    progress.emit(_record('A cached execution %d is used.', 7))
    progress.emit(_record('Component %s is finished.', 'Pusher'))
    progress.emit(_record('Component %s is running.', 'Evaluator'))
    progress.failed()
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
    assert cli.main(['draft-schema', '--home', str(tmp_path)]) == 2
    assert f'run `python -m runner local --home {tmp_path}` first' in capsys.readouterr().err


@pytest.mark.parametrize('command', [c.NAME for c in commands.ALL])
def test_every_command_has_its_own_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([command, '--help'])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert f'python -m runner {command}' in help_text.split('examples:')[1]


@pytest.mark.parametrize('argv, message', [
    (['local', '--train-steps', '0'], 'argument --train-steps: must be at least 1, not 0'),
    (['local', '--spans', '-1'], 'argument --spans: must be at least 1, not -1'),
    (['local', '--tune', '--tune-trials', '0'], 'argument --tune-trials: must be at least 1'),
    (['monitor', '--windows', 'x'], "argument --windows: invalid positive_int value: 'x'"),
    (['nonsense'], "argument COMMAND: invalid choice: 'nonsense'"),
])
def test_bad_usage_is_one_error_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: ') and message in err


@pytest.mark.parametrize('command', [
    ['report'], ['monitor'], ['batch-predict', '--input', '.', '--output', 'OUT'],
    ['draft-schema'], ['runs'], ['compare', 'a', 'b'], ['lineage', '--run', 'a'],
    ['reproduce', 'a'], ['rollback']])
def test_a_home_without_metadata_is_bad_input_and_writes_nothing(command, tmp_path, capsys):
    home = tmp_path / 'home'
    argv = [str(tmp_path / 'out') if arg == 'OUT' else arg for arg in command]
    assert cli.main([*argv, '--home', str(home)]) == 2
    err = capsys.readouterr().err
    assert err == f'error: no ML Metadata at {home}/metadata.db: run ' \
                  f'`python -m runner local --home {home}` first\n'
    assert not home.exists() and not (tmp_path / 'out').exists()


def test_a_home_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / 'file').write_text('')
    assert cli.main(['local', '--home', str(tmp_path / 'file' / 'home')]) == 2
    assert 'is a file, not a directory' in capsys.readouterr().err


def test_reproduce_names_the_data_file_that_changed_or_is_gone(tmp_path):
    import json

    from operations.reproduction import data_problem
    from pipeline import mlmd
    from pipeline.config import PipelineConfig
    from pipeline.fingerprint import file_sha256
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'a.csv').write_text('fare\n1\n')
    (data / 'b.csv').write_text('fare\n2\n')
    files = [{'path': name, 'bytes': 7, 'sha256': file_sha256(str(data / name))}
             for name in ('a.csv', 'b.csv')]
    manifest = mlmd.Artifact(1, 'RunManifest', '/m', {mlmd.DATA_FILES: json.dumps(files)}, 0)
    record = mlmd.RunRecord('r', 'chicago-taxi', 0, 1, {}, manifest=manifest)
    config = PipelineConfig(home=str(tmp_path / 'home'), data_root=str(data))
    assert data_problem(record, config) == ''
    (data / 'b.csv').write_text('fare\n3\n')
    assert data_problem(record, config).startswith(f'{data / "b.csv"} changed since the run')
    (data / 'a.csv').unlink()
    assert data_problem(record, config).startswith(f'{data / "a.csv"} is gone')


def test_tune_trials_needs_tune(tmp_path, capsys):
    assert cli.main(['local', '--home', str(tmp_path), '--tune-trials', '3']) == 2
    assert capsys.readouterr().err == 'error: --tune-trials needs --tune\n'


def test_no_component_starts_after_a_stop(capsys):
    """A stop asked for, and swallowed on the way by library code, is raised again as
    LocalDagRunner announces the next component."""
    import signal
    import sys

    from common import interruption
    progress = execution.ComponentWatch(TerminalProgress(sys.stdout, 'run.log'))
    progress.emit(_record('Component %s is running.', 'Transform'))
    interruption.request(signal.SIGTERM)
    with pytest.raises(interruption.Interrupted):
        progress.emit(_record('Component %s is running.', 'Trainer'))
    assert progress.current == 'Transform'
    assert 'Trainer' not in capsys.readouterr().out


def test_a_stop_beam_re_raised_wrapped_is_still_the_stop():
    """Beam re-raises what a DoFn raised as an exception of its own (`RuntimeError:
    common.interruption.Interrupted: stopped by SIGINT [while running ...]`), which TFX
    recorded as the component's failure; the run still takes it for the stop, even with
    no stop recorded for the process (nothing here sent a signal)."""
    import signal

    import apache_beam as beam

    from common import interruption

    def stop(_):
        raise interruption.Interrupted(signal.SIGINT)
    with pytest.raises(BaseException) as raised:
        with beam.Pipeline(argv=['--direct_running_mode=in_memory']) as pipeline:
            _ = pipeline | beam.Create([1]) | beam.Map(stop)
    assert interruption.requested() is None
    assert execution.stop_signal(raised.value) == signal.SIGINT
    assert execution.stop_signal(RuntimeError('a failure of its own')) is None
