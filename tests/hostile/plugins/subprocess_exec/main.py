"""Hostile plugin 'subprocess_exec': runs a shell through subprocess."""

import subprocess

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    subprocess.run(['/bin/sh', '-c', 'echo pwned'], check=True)
    raise RuntimeError('subprocess ran: the sandbox let a program be executed')
