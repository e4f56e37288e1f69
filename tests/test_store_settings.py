"""Which ML Metadata store a command uses, and its password: store URLs parsed
and refused by name, the password found where libpq finds it and never shown,
--metadata / TAXI_METADATA_URL / the profile, a shared store's need of a
pipeline root, the server's faults named in one line (a port nobody listens
on), and what a run records of who started it."""

import argparse
import getpass
import json
import logging
import os
import socket

import pytest

from pipeline import postgres, store_url
from pipeline.config import PipelineConfig
from pipeline.manifest import config_record, origin
from pipeline.profiles import ProfileError, load_profile
from runner import arguments, cli
from runner.logs import Redacted
from serving.local_server import free_port


def test_a_url_names_server_role_and_database_and_shows_no_password(monkeypatch):
    monkeypatch.delenv('PGUSER', raising=False)
    parsed = store_url.parse('postgresql://ml%40team:p%40ss@db.example:6543/taxi%20meta')
    assert (parsed.host, parsed.port, parsed.user, parsed.database, parsed.password) == \
        ('db.example', 6543, 'ml@team', 'taxi meta', 'p@ss')
    assert parsed.shared and parsed.url == 'postgresql://ml%40team@db.example:6543/taxi%20meta'
    assert 'p@ss' not in repr(parsed) and str(parsed) == parsed.url
    bare = store_url.parse('postgres://127.0.0.1/mlmd')
    assert (bare.port, bare.user, bare.password) == (5432, getpass.getuser(), None)
    monkeypatch.setenv('PGUSER', 'team')
    assert store_url.parse('postgresql://127.0.0.1/mlmd').user == 'team'
    # The password is no part of what tells stores apart.
    assert store_url.parse('postgresql://u:a@h/d') == store_url.parse('postgresql://u:b@h/d')


@pytest.mark.parametrize('url, problem', [
    ('mysql://u@h/d', 'is not a store URL'),
    ('/data/metadata.db', 'is not a store URL'),
    ('postgresql:///mlmd', 'names no server'),
    ('postgresql://u:secret@h', 'names no database'),
    ('postgresql://u@h:99999/d', 'the port is not a number'),
    ('postgresql://u@h/d?sslmode=require', 'options after the database are not supported'),
])
def test_a_bad_url_is_named_with_its_password_masked(url, problem):
    with pytest.raises(store_url.StoreURLError, match=problem) as refused:
        store_url.parse(url)
    assert 'secret' not in str(refused.value)


def test_the_password_comes_from_the_url_then_pgpassword_then_the_passfile(tmp_path,
                                                                          monkeypatch):
    passfile = tmp_path / 'pgpass'
    passfile.write_text('# comment\n'
                        'other:5432:*:ml:not-this\n'
                        'db\\:1:6543:mlmd:ml:from\\:file\\\\\n'
                        '*:*:*:*:catch-all\n')
    monkeypatch.setenv('PGPASSFILE', str(passfile))
    monkeypatch.delenv('PGPASSWORD', raising=False)
    named = store_url.Store(store_url.POSTGRESQL, host='db:1', port=6543, user='ml',
                            database='mlmd')
    assert postgres.password(named) == 'from:file\\'
    assert postgres.password(store_url.parse('postgresql://x@elsewhere/y')) == 'catch-all'
    monkeypatch.setenv('PGPASSWORD', 'from-env')
    assert postgres.password(named) == 'from-env'
    assert postgres.password(store_url.parse('postgresql://ml:in-url@h/d')) == 'in-url'


def test_a_password_in_what_a_library_logs_is_masked():
    record = logging.LogRecord('absl', logging.INFO, __file__, 1, 'Using connection config:\n %s',
                               ('host: "h"\nport: "5432"\npassword: "s3\\"cret"\nuser: "u"',),
                               None)
    assert Redacted().filter(record)
    assert record.getMessage() == ('Using connection config:\n host: "h"\nport: "5432"\n'
                                   'password: "***"\nuser: "u"')
    plain = logging.LogRecord('x', logging.INFO, __file__, 1, 'password authentication failed',
                              None, None)
    Redacted().filter(plain)
    assert plain.getMessage() == 'password authentication failed'


def test_the_recorded_config_names_the_store_without_its_password():
    config = PipelineConfig(metadata=store_url.parse('postgresql://ml:s3cret@db:5432/mlmd'))
    recorded = json.dumps(config_record(config))
    assert 's3cret' not in recorded
    assert json.loads(recorded)['metadata'] == 'postgresql://ml@db:5432/mlmd'
    assert config_record(PipelineConfig())['metadata'] is None
    assert origin() == {'user': getpass.getuser(), 'host': socket.gethostname()}


def _args(**values):
    return argparse.Namespace(**{'metadata': None, 'pipeline_root': None, **values})


def test_the_store_comes_from_the_flag_then_the_environment_then_sqlite(monkeypatch, tmp_path):
    monkeypatch.delenv('TAXI_METADATA_URL', raising=False)
    monkeypatch.delenv('TAXI_PIPELINE_ROOT', raising=False)
    assert arguments.store_settings(_args()) == {'metadata': None, 'storage_root': None}
    monkeypatch.setenv('TAXI_METADATA_URL', 'postgresql://env@h/d')
    monkeypatch.setenv('TAXI_PIPELINE_ROOT', str(tmp_path / 'team'))
    assert arguments.store_settings(_args()) == {
        'metadata': store_url.parse('postgresql://env@h/d'), 'storage_root': str(tmp_path / 'team')}
    flagged = arguments.store_settings(_args(metadata='postgresql://flag@h/d',
                                             pipeline_root='relative'))
    assert flagged['metadata'].user == 'flag'
    assert flagged['storage_root'] == os.path.abspath('relative')


def test_a_run_on_a_shared_store_needs_a_pipeline_root(monkeypatch, tmp_path):
    monkeypatch.delenv('TAXI_PIPELINE_ROOT', raising=False)
    with pytest.raises(arguments.UsageError, match='is shared: give --pipeline-root DIR'):
        arguments.store_settings(_args(metadata='postgresql://u@h/d'), writing=True)
    (tmp_path / 'file').write_text('')
    with pytest.raises(arguments.UsageError, match='--pipeline-root .* is a file'):
        arguments.store_settings(_args(metadata='postgresql://u@h/d',
                                       pipeline_root=str(tmp_path / 'file' / 'root')),
                                 writing=True)


def test_a_profile_url_is_checked_naming_the_setting(tmp_path):
    profiles = tmp_path / 'profiles.yaml'
    profiles.write_text('local:\n  runner: local\n  metadata_url: "postgresql://u:pw@h"\n')
    with pytest.raises(ProfileError) as refused:
        load_profile('local', str(profiles), environ={})
    assert "setting 'metadata_url'" in str(refused.value) and 'TAXI_METADATA_URL' in \
        str(refused.value) and 'pw' not in str(refused.value).replace('postgresql', '')
    assert load_profile('local', str(profiles), environ={
        'TAXI_METADATA_URL': 'postgresql://u@h/d'}).metadata_url == 'postgresql://u@h/d'


COMMANDS = [['runs'], ['compare', 'A', 'B'], ['lineage', '--run', 'A'], ['report'],
            ['rollback', '--pipeline-root', 'ROOT'], ['monitor'], ['draft-schema'],
            ['reproduce', 'A'], ['batch-predict', '--input', '.', '--output', 'OUT',
                                 '--pipeline-root', 'ROOT'],
            ['local', '--pipeline-root', 'ROOT'], ['watch', '--data-root', '.', '--pipeline-root',
                                                   'ROOT']]


@pytest.mark.parametrize('command', COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_names_a_store_it_cannot_reach_in_one_line(command, tmp_path, capsys,
                                                                  monkeypatch):
    """Through TAXI_METADATA_URL, with a password in it: a port nobody listens on."""
    url = f'postgresql://ml:s3cret@127.0.0.1:{free_port()}/mlmd'
    monkeypatch.setenv('TAXI_METADATA_URL', url)
    argv = [{'OUT': str(tmp_path / 'out'), 'ROOT': str(tmp_path / 'root')}.get(arg, arg)
            for arg in command]
    assert cli.main([*argv, '--home', str(tmp_path / 'home')]) == 2
    err = capsys.readouterr().err
    shown = url.replace(':s3cret', '')
    assert err == (f'error: ML Metadata store {shown} cannot be reached (Connection refused): '
                   'start its server (`make store` starts the local one) or correct the host '
                   'and port\n')
    assert not (tmp_path / 'home').exists()              # nothing written
