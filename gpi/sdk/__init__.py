"""The native-plugin SDK shipped in the package: the C header, the CMake package, templates.

``include/gpi_plugin.h`` is the C ABI (docs/abi.md); ``cmake/`` is a CMake
config package (``find_package(gpi CONFIG REQUIRED)`` with
``-Dgpi_DIR=$(gpi sdk --cmakedir)``) providing the ``gpi::plugin_api`` target
and ``gpi_add_plugin()``; ``templates/c/`` is what ``gpi new plugin --lang c``
copies. This module only says where those files are.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cmake_dir", "include_dir", "sdk_dir", "templates_dir"]


def sdk_dir() -> Path:
    """The folder holding include/, cmake/ and templates/."""
    return Path(__file__).resolve().parent


def include_dir() -> Path:
    """The folder holding gpi_plugin.h (add it to a compiler's include path)."""
    return sdk_dir() / "include"


def cmake_dir() -> Path:
    """The folder holding gpiConfig.cmake (pass it as ``-Dgpi_DIR=...``)."""
    return sdk_dir() / "cmake"


def templates_dir() -> Path:
    """The folder of project templates (``c/`` for ``gpi new plugin --lang c``)."""
    return sdk_dir() / "templates"
