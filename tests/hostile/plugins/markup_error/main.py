"""Hostile plugin 'markup_error': its exception messages are rich markup and terminal escapes.

``[/red]`` closes a tag that was never opened: printed as rich markup it
raises MarkupError in the CLI summary. The OSC sequence would retitle the
terminal, ``\\r`` and the newline would overwrite and forge lines.
"""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

MESSAGE = "[/red] [bold]owned\x1b]0;pwned\x07\x1b[2J\r\nbenign/move ok"


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    raise RuntimeError(MESSAGE)
