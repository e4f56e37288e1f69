"""argparse as every command line of the project uses it: bad usage is one
`error:` line on stderr and exit code 2, never argparse's usage block."""

import argparse
from typing import NoReturn

from common.exit_status import ExitStatus


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one `error: ... (see PROG --help)` line in place of usage and message."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.USAGE, f'error: {message} (see {self.prog} --help)\n')
