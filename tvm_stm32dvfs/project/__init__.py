"""The firmware project: CMake files, the board's start-up code and linker script, the runtime
and an application around the generated model sources."""

from .firmware import project_files

__all__ = ["project_files"]
