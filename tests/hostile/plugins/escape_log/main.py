"""Hostile plugin 'escape_log': log lines and stdout that try to take over the terminal.

ANSI clear-screen, an OSC title, a carriage return and a newline followed by
a line made to look like another plugin's, a bidi override: printed raw,
they would rewrite the user's terminal and forge other plugins' lines.
"""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

EVIL = "\x1b[2J\x1b]0;pwned\x07ok\r[benign/move] FORGED\n[benign/move] forged too \u202eevil\x9b31m"


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    ctx.log(EVIL, level="error")
    print(EVIL, flush=True)
