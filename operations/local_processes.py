"""Long-running processes this project starts on this machine and stops again (the
Flink cluster's, Airflow's): each in a session of its own, so that its children go
with it, with its pid and start time in a pid file, so that only what was started
is ever stopped (a pid the system gave to another process since is not ours)."""

import os
import re
import signal
import socket
import subprocess
from typing import List, Mapping, Optional, Sequence, Tuple

import psutil


def start_recorded(argv: Sequence[str], env: Mapping[str, str], log_path: str,
                   pid_file: str, cwd: str) -> int:
    """Starts a process in a session of its own, its output appended to its log;
    records its pid and start time in pid_file."""
    with open(log_path, 'ab') as log:
        child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    record(pid_file, child.pid)
    return child.pid


def record(pid_file: str, pid: int) -> None:
    """Records a process's pid and start time (a later process with its pid is not it)."""
    with open(pid_file, 'w') as f:
        f.write(f'{pid} {psutil.Process(pid).create_time()}')


def recorded(pid_file: str) -> Optional[Tuple[int, float]]:
    """The pid and start time recorded for a process when it was started."""
    try:
        with open(pid_file) as f:
            pid, started = f.read().split()
        return int(pid), float(started)
    except (OSError, ValueError):
        return None


def alive(pid_file: str) -> Optional[int]:
    """The pid of the recorded process if it is still the one started (pid and start
    time as recorded)."""
    found = recorded(pid_file)
    if found is None:
        return None
    try:
        process = psutil.Process(found[0])
        if process.create_time() != found[1]:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:     # exited, not yet reaped (our child)
            os.waitpid(process.pid, os.WNOHANG)
            return None
        return process.pid
    except (OSError, ValueError, psutil.Error):
        return None


def session(pid: int) -> List[psutil.Process]:
    """The processes of the session a process leads, whatever their process groups
    (an Airflow task runner has one of its own)."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == pid:
                found.append(process)
        except (OSError, psutil.Error):
            continue
    return found


def _survivors(pid: int, started: float) -> List[psutil.Process]:
    """What is left of the session a recorded process led, the leader too if it lives:
    members started since it was (Linux gives no new process a pid that a live session
    still has as its id). Nothing when the pid now leads a session of another process."""
    try:
        if psutil.Process(pid).create_time() != started:
            return []
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return []
    found = []
    for member in session(pid):
        try:
            if member.create_time() >= started:
                found.append(member)
        except psutil.Error:
            continue
    return found


def stop_recorded(pid_file: str, seconds: float, sig: int = signal.SIGTERM) -> bool:
    """Sends sig to the recorded process and what is left of its session, its children
    too when it is gone itself, SIGKILL to what still runs after `seconds`; removes
    the pid file. False if nothing of it was running."""
    found = recorded(pid_file)
    members = _survivors(*found) if found is not None else []
    for member in members:
        try:
            member.send_signal(sig)
        except psutil.Error:
            continue
    _, left = psutil.wait_procs(members, timeout=seconds)
    for member in left:
        try:
            member.kill()
        except psutil.Error:
            continue
    try:
        os.remove(pid_file)
    except FileNotFoundError:
        pass
    return bool(members)


def port_open(host: str, port: int) -> bool:
    """Whether something accepts connections on the port (a server up, or a port taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def log_problem(path: str, pattern: str, limit: int) -> str:
    """What a process's log says went wrong: its last line the pattern finds (a regular
    expression), else its last line; at most `limit` characters."""
    try:
        with open(path, errors='replace') as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ''
    told = [line for line in lines if re.search(pattern, line)]
    return (told or lines or [''])[-1][:limit]
