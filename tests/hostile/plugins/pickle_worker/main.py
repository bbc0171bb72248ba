"""Hostile plugin 'pickle_worker': sends a code-carrying pickle up a verify worker's pipe.

In a confined ``gpi replay verify`` worker the plugin runs in the worker
process itself, next to the worker's connection to the unconfined verify
parent. The plugin finds that connection (any
``multiprocessing.connection.Connection`` in the process) and sends a pickle
whose ``__reduce__`` would write the file named by ``GPI_HOSTILE_MARKER``
when unpickled. A parent that unpickles what workers send runs that code
unconfined; a parent that reads plain data only reports the worker faulty.
Elsewhere (a plugin child, the host) there is no such connection and the
system does nothing, so the run it is recorded in is ordinary.
"""

import gc
import os
import pickle

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


class Marker:
    def __reduce__(self):
        path = os.environ.get("GPI_HOSTILE_MARKER", "/nonexistent/gpi-marker")
        return (exec, (f"open({path!r}, 'w').write('unpickled: code ran in the verify parent')",))


@plugin.system(stage="update", writes=["Position"])  # writes: never skipped as effect-free
def attack(ctx):
    from multiprocessing.connection import Connection

    for obj in gc.get_objects():
        if isinstance(obj, Connection) and not obj.closed:
            try:
                obj.send_bytes(pickle.dumps(Marker()))
            except OSError:
                pass
