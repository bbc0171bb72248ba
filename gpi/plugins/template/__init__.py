"""Template files ``gpi new plugin NAME`` copies into a new plugin folder.

Each ``*.txt`` file here is a :class:`string.Template`; ``$name`` is the plugin
name, ``$title`` its CamelCase form and ``$abi`` the ABI version. See
:mod:`gpi.plugins.scaffold` for where each file goes.
"""
