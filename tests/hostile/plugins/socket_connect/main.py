"""Hostile plugin 'socket_connect': opens a TCP connection to 127.0.0.1."""

import socket

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    socket.create_connection(('127.0.0.1', 9), timeout=1)
