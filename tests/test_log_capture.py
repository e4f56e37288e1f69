"""A command's log: what a library's thread logs as the command ends goes nowhere,
never to the terminal as a logging error."""

import logging
import threading

from runner import logs


def _capture_while_a_thread_logs(path):
    stop = threading.Event()

    def keep_logging():        # as Beam's job-state thread does while a job ends
        while not stop.is_set():
            logging.getLogger('late.library').info('still here')

    with logs.capture(path):
        thread = threading.Thread(target=keep_logging, daemon=True)
        thread.start()
        logging.getLogger('late.library').info('first')
    # Records the thread emits now may still reach the capture's handler (a
    # snapshot of the root's handlers): never the closed file.
    stop.set()
    thread.join()


def test_a_thread_logging_as_the_capture_ends_prints_nothing_on_the_terminal(tmp_path, capfd):
    for attempt in range(5):
        path = str(tmp_path / f'command-{attempt}.log')
        _capture_while_a_thread_logs(path)
        err = capfd.readouterr().err
        assert '--- Logging error ---' not in err, err
        with open(path) as f:
            assert 'first' in f.read()
