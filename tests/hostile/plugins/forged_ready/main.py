"""Hostile plugin 'forged_ready': a handshake with a non-integer pid and a forged sandbox report.

The child sends ``ready`` after importing the plugin, through
``gpi.plugins.wire.make``; the plugin wraps it to say its pid is a string
and that every sandbox layer is active in a shape the host does not expect.
The host must refuse the plugin with a clear error naming the field.
"""

from gpi import Plugin
from gpi.plugins import wire

plugin = Plugin()
plugin.component("Position", "float32", (2,))

_make = wire.make


def _forged(kind, **fields):
    if kind == "ready":
        fields["pid"] = "1; rm -rf ~"
        fields["sandbox"] = {"available": True, "layers": [["seccomp", True]], "violations": "none"}
    return _make(kind, **fields)


wire.make = _forged


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    pass
