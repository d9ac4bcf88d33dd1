"""What the Python tools in launch/ share: running with the project's Python, and writing an
output file atomically with a normal file's mode. Standard library only (it runs before the
re-exec, under any python3).
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REEXEC_FLAG = "FROST_TOOL_REEXEC"


def project_python():
    """The project's Python: $FROST_PYTHON, else $FROST_VENV/bin/python, else the venv
    launch/setup.sh fills (.cache/venv/bin/python of the repository); None when it is not an
    executable."""
    py = os.environ.get("FROST_PYTHON") or os.path.join(
        os.environ.get("FROST_VENV") or os.path.join(HERE, "..", ".cache", "venv"), "bin", "python")
    return py if os.access(py, os.X_OK) else None


def run_with_project_python(script):
    """Re-runs `script` (the tool's own __file__) with the project's Python when another
    interpreter started it (a system python3 may have no torch, or another torch without timm).
    Does nothing when there is no project Python (the tool then names what is missing), when
    this interpreter is it, or when this script was already re-run once (FROST_TOOL_REEXEC)."""
    py = project_python()
    script = os.path.abspath(script)
    if py is None or os.environ.get(REEXEC_FLAG) == script:
        return
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(py)))
    if os.path.realpath(prefix) == os.path.realpath(sys.prefix):
        return
    os.environ[REEXEC_FLAG] = script
    os.execv(py, [py, script] + sys.argv[1:])


def file_mode():
    """The mode open() gives a new file: 0o666 without the bits of the process umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def check_output_path(path):
    """Raises ValueError (one line) when `path` cannot be written as a file: it is a folder,
    its nearest existing ancestor is not a folder, or that folder is not writable. Creates nothing (the folder is made by
    atomic_write, once the work is done)."""
    if os.path.isdir(path):
        raise ValueError(f"'{path}' is a folder")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"'{path}': '{parent}' is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"'{path}': cannot write in '{parent}'")


def temp_beside(path):
    """A new empty temporary file in the folder of `path` (made, with its parents, when
    missing). Returns its name; commit() gives it its final mode."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    return tmp


def commit(tmp, path):
    """Gives `tmp` the mode of a normal new file (mkstemp's is 0600, and writers that replace
    the file themselves, such as safetensors' save_file, make it 0600 again), fsyncs it and
    renames it to `path`."""
    os.chmod(tmp, file_mode())
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path, write):
    """Writes `path` through write(tmp) to a temporary file beside it, fsync and rename: on any
    error the temporary file is removed and `path` is untouched; the error is re-raised."""
    tmp = temp_beside(path)
    try:
        write(tmp)
        commit(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
