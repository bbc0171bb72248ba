"""Hostile plugin 'numpy_write': writes into its read-only world view through numpy."""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    for chunk in ctx.query('Position'):
        view = chunk['Position']
        try:
            view.setflags(write=True)
        except ValueError:
            pass
        view[:] = 999.0
