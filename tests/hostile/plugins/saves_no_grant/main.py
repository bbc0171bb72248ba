"""Hostile plugin 'saves_no_grant': puts a ``saves`` field on its results without the ``save`` grant.

Its manifest requests no capabilities, so ``ctx.save`` would refuse; it
writes the field into the result itself instead (wrapping the channel). The
host must refuse the field (a ``protocol`` fault) and write nothing to the
save store.
"""

from gpi import Plugin
from gpi.shm import Channel

plugin = Plugin()
plugin.component("Position", "float32", (2,))

_original = Channel.request


def _with_saves(self, msg, timeout=None):
    if isinstance(msg, dict) and msg.get("kind") == "result":
        msg = dict(msg)
        msg["saves"] = [["put", "stolen", "written without the save capability"]]
    return _original(self, msg, timeout)


Channel.request = _with_saves


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    pass
