"""What every command line of the project shares: bad usage is one `error:` line
on stderr and exit code 2, never argparse's usage block."""

import argparse

USAGE_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one `error: ... (see PROG --help)` line in place of usage and message."""

    def error(self, message):
        self.exit(USAGE_ERROR, f'error: {message} (see {self.prog} --help)\n')
