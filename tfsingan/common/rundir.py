"""Run directories of every model family: which family a folder holds, who writes it.

Every command that writes a run directory (a trainer's --workdir, expand's and
prepare's --out, an export's --out) goes through this module, so that a run of
one family is never written into by a command of another, two writers never
share a folder, and a start that fails on bad input leaves nothing behind.

A run's `config.json` holds its resolved options and `"model": "<family>"`
(singan, ganimation, gmface, singanimation, prepare, au_regressor, ...). Folders
written before the key existed are recognised from their files (`LEGACY_SIGNS`).

API:
  with rundir.prepare(workdir, config, family="singan") as run:
    ...                      # read and check the inputs; nothing is written yet
    run.start()              # writes config.json (the first start claims the folder)
    ...                      # train; write into run.path
  `prepare` refuses (UserInputError) a path that is not a folder, a folder holding
  a run of another family ("--workdir=X holds a GANimation run (config.json
  model=ganimation); use a new --workdir"), a run with other settings, and a
  folder another process is writing (naming its pid and host). It holds `lock`
  until the block ends. When the block raises before `start()`, the lock is
  removed and so is every folder `prepare` created: a retry starts clean.
  `run.previous` is the existing config.json (a dict) or None; `run.resumed` is
  True when the folder held this run already.

  with rundir.lock(path, flag="--out"):   # a writer that keeps no config.json
    ...
  rundir.family_of(path) -> family name or None (not a run).
  rundir.check_family(path, family, flag) -> the config dict; for readers (sample,
    animate, export): refuses a missing run or one of another family.
  rundir.check_run(path, config, family, flag): the read-only checks of `prepare`
    (for a run that a command will train later, e.g. expand's SinGAN).
  rundir.check_folder_path(path, flag) / check_file_path(path, flag): a path that
    can be created, or UserInputError naming the component that is a file.
  rundir.settings(config) -> the options a run depends on (field metadata
    `resume`: "execution" fields are left out, see `tfsingan.config.field`).

Options of a config (`tfsingan.config.field(..., resume=...)`) are compared with
the run's on every start: "refuse" (the default) refuses a change, "notice"
accepts one with a `notice:` line (e.g. GANimation's --epochs, raised to train
further) and rewrites config.json, "execution" (logging, checkpoint intervals,
sampling defaults) is ignored and never rewrites the run's config.json.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import time

from tfsingan.errors import UserInputError

CONFIG_NAME = "config.json"
LOCK_NAME = ".tfsingan.lock"

# How each family is named in messages.
TITLES = {"singan": "SinGAN", "ganimation": "GANimation", "gmface": "GmFace",
          "singanimation": "SinGANimation (expand)", "prepare": "prepared data (prepare)",
          "au_regressor": "AU regressor"}

# Files that identify a family's run directory written before config.json named
# its family: (family, files that must all exist).
LEGACY_SIGNS = (
    ("singan", ("state.json", "pyramid")),
    ("singan", ("scales", "pyramid")),
    ("singanimation", ("singanimation.json",)),
    ("gmface", ("checkpoint.npz",)),
    ("gmface", ("gmface.npz",)),
    ("au_regressor", ("au_regressor.json",)),
)
# Keys that only one family's config.json holds (runs before the "model" key).
LEGACY_KEYS = (("singan", "min_size"), ("ganimation", "repeat_num"),
               ("ganimation", "lambda_au"), ("gmface", "num_gaussians"))


def title(family):
  return TITLES.get(family, family)


# ------------------------------------------------------------------ paths
def _blocking_file(path):
  """The first existing component of `path` that is not a folder, or None."""
  path = os.path.abspath(path)
  parts = []
  head = path
  while head and head != os.path.dirname(head):
    parts.append(head)
    head = os.path.dirname(head)
  for part in reversed(parts):
    if os.path.lexists(part) and not os.path.isdir(part):
      return part
  return None


def check_folder_path(path, flag="--workdir"):
  """UserInputError unless `path` is a folder or could be created as one."""
  if not path:
    raise UserInputError(f"{flag} is empty; expected a folder")
  blocker = _blocking_file(path)
  if blocker == os.path.abspath(path):
    raise UserInputError(f"{flag}={path} is a file; expected a folder (a new one is created)")
  if blocker is not None:
    raise UserInputError(f"{flag}={path}: cannot create the folder: {blocker} is a file; "
                         "expected a folder path")


def check_file_path(path, flag="--out"):
  """UserInputError unless `path` names a file that could be written."""
  if not path:
    raise UserInputError(f"{flag} is empty; expected a file name")
  if os.path.isdir(path):
    raise UserInputError(f"{flag}={path} is a directory; expected a file name")
  parent = os.path.dirname(os.path.abspath(path))
  blocker = _blocking_file(parent)
  if blocker is not None:
    raise UserInputError(f"{flag}={path}: cannot create {parent}: {blocker} is a file; "
                         "expected a file name in a folder")


def make_folder(path, flag="--workdir"):
  """Creates `path` (and parents); returns the folders it created, outermost first."""
  check_folder_path(path, flag)
  created = []
  head = os.path.abspath(path)
  while not os.path.isdir(head):
    created.append(head)
    head = os.path.dirname(head)
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise UserInputError(f"{flag}={path}: cannot create the folder ({e.strerror})") from None
  return list(reversed(created))


def remove_created(created):
  """Removes folders made by `make_folder` that are still empty (innermost first)."""
  for folder in reversed(created):
    try:
      os.rmdir(folder)
    except OSError:
      return  # not empty (someone wrote there) or gone: leave it


# ----------------------------------------------------------------- family
def read_config(path, flag="--workdir"):
  """The config.json of run directory `path` as a dict, or None when absent."""
  file = os.path.join(path, CONFIG_NAME)
  if not os.path.isfile(file):
    return None
  try:
    with open(file, encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, ValueError) as e:
    raise UserInputError(f"{flag}={path}: {file} is damaged ({type(e).__name__}: {e}); "
                         "restore it, or start again in a new --workdir") from None
  if not isinstance(data, dict):
    raise UserInputError(f"{flag}={path}: {file} is damaged (not a JSON object); restore "
                         "it, or start again in a new --workdir")
  return data


def _found(path, config):
  """(family, how it was recognised) of run directory `path`, or (None, None)."""
  if config is not None and isinstance(config.get("model"), str):
    return config["model"], f"{CONFIG_NAME} model={config['model']}"
  if config is not None:
    for family, key in LEGACY_KEYS:
      if key in config:
        return family, f"{CONFIG_NAME} with {key}, written before runs named their family"
  for family, names in LEGACY_SIGNS:
    if all(os.path.exists(os.path.join(path, n)) for n in names):
      return family, " + ".join(names)
  return None, None


def family_of(path, flag="--workdir"):
  """The family of the run in folder `path`, or None when it holds none."""
  if not os.path.isdir(path):
    return None
  return _found(path, read_config(path, flag))[0]


def _refuse_foreign(path, family, found, how, flag, reader):
  use = ("expected the --workdir of a " + title(family) + " run" if reader
         else f"use a new {flag}")
  raise UserInputError(f"{flag}={path} holds a {title(found)} run ({how}); {use}")


def check_family(path, family, flag="--workdir", expected=""):
  """For commands that read a run: its config dict; refuses none or another family.

  Args:
    path: the run directory.
    family: the family the command reads.
    flag: how messages name the folder.
    expected: what to suggest when `path` holds no run.
  """
  expected = expected or f"the {flag} of a trained {title(family)} run"
  if not path or not os.path.isdir(path):
    what = ("the folder does not exist" if not path or not os.path.lexists(path)
            else "it is a file, not a folder")
    raise UserInputError(f"{flag}={path} holds no {title(family)} run ({what}); expected "
                         f"{expected}")
  config = read_config(path, flag)
  found, how = _found(path, config)
  if found is None:
    raise UserInputError(f"{flag}={path} holds no {title(family)} run (no {CONFIG_NAME}); "
                         f"expected {expected}")
  if found != family:
    _refuse_foreign(path, family, found, how, flag, reader=True)
  return config if config is not None else {}


# --------------------------------------------------------------- settings
def settings(config):
  """The options of `config` that its run depends on (every field but "execution")."""
  return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
          if f.metadata.get("resume", "refuse") != "execution"}


def _changes(config, previous):
  """(refused, noticed) lists of "name: new here, old in the run" for changed options."""
  refused, noticed = [], []
  for f in dataclasses.fields(config):
    kind = f.metadata.get("resume", "refuse")
    if kind == "execution" or f.name not in previous:
      continue
    new, old = getattr(config, f.name), previous[f.name]
    if new != old:
      (refused if kind == "refuse" else noticed).append(
          f"{f.name}: {new!r} here, {old!r} in the run")
  return refused, noticed


def to_json(config, family):
  """config.json text: the options and the family."""
  return json.dumps({**dataclasses.asdict(config), "model": family}, indent=2,
                    sort_keys=True) + "\n"


# ------------------------------------------------------------------- lock
def _start_time(pid):
  """The start time of process `pid` (clock ticks since boot), or None."""
  try:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
      fields = f.read().rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])
  except (OSError, IndexError, ValueError):
    return None


def _describe(holder):
  return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
          + (f", since {holder['since']}" if holder.get("since") else ""))


def _read_holder(fd):
  os.lseek(fd, 0, os.SEEK_SET)
  data = b""
  while chunk := os.read(fd, 4096):
    data += chunk
  try:
    holder = json.loads(data.decode("utf-8"))
    return holder if isinstance(holder, dict) else {}
  except ValueError:
    return {}


@contextlib.contextmanager
def lock(path, flag="--workdir", inside=True):
  """Holds the write lock of `path` for the duration of the block.

  The lock is a file (`path/.tfsingan.lock`, or `path.lock` beside it when
  `inside` is False, for an --out that is a file) with the holder's pid, host and
  start time, and an exclusive `fcntl.flock` on it. The kernel drops the flock
  when its holder dies, however it dies (SIGKILL included), so a lock file left
  behind is taken over with a `notice:`; a held one is refused with the
  holder's pid and host. The file is removed when the block ends.
  """
  if inside:
    check_folder_path(path, flag)
    lock_path = os.path.join(path, LOCK_NAME)
  else:
    check_file_path(path, flag)
    lock_path = os.path.abspath(path) + ".lock"
  # The folder of a file output is made here (and removed again if left empty).
  created = [] if inside else make_folder(os.path.dirname(lock_path), flag)
  try:
    with _locked(lock_path, path, flag):
      yield lock_path
  finally:
    remove_created(created)


@contextlib.contextmanager
def _locked(lock_path, path, flag):
  me = {"pid": os.getpid(), "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"), "start_time": _start_time(os.getpid())}
  while True:
    try:
      fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise UserInputError(f"{flag}={path}: cannot write there ({e.strerror})") from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _read_holder(fd)
      os.close(fd)
      raise UserInputError(f"{flag}={path} is being written by another process ("
                           f"{_describe(holder)}); wait for it to finish, stop it, or use "
                           f"another {flag}") from None
    except OSError as e:  # a file system without locks (ENOLCK): the pid decides
      if not _take_by_pid(fd, lock_path, path, flag):
        os.close(fd)
        raise UserInputError(f"{flag}={path}: cannot lock {lock_path} ({e.strerror})") from None
    # Another process may have removed and re-created the file between our open and
    # flock: then we hold a lock on a name that no longer exists. Start again.
    try:
      same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  previous = _read_holder(fd)
  if previous and previous.get("pid") != me["pid"]:
    print(f"notice: {flag}={path}: took over the lock of a writer that is no longer "
          f"running ({_describe(previous)})", flush=True)
  os.ftruncate(fd, 0)
  os.lseek(fd, 0, os.SEEK_SET)
  os.write(fd, json.dumps(me).encode("utf-8"))
  os.fsync(fd)
  try:
    yield lock_path
  finally:
    try:
      os.remove(lock_path)
    except OSError:
      pass
    os.close(fd)


def _take_by_pid(fd, lock_path, path, flag):
  """Without flock: True when the lock file is empty or its holder is dead on this host."""
  holder = _read_holder(fd)
  if not holder:
    return True
  if holder.get("host") != socket.gethostname():
    raise UserInputError(f"{flag}={path} is locked by {_describe(holder)}; if that process "
                         f"is gone, remove {lock_path}")
  alive = _start_time(holder.get("pid", -1))
  if alive is not None and alive == holder.get("start_time", alive):
    raise UserInputError(f"{flag}={path} is being written by another process ("
                         f"{_describe(holder)}); wait for it to finish, stop it, or use "
                         f"another {flag}")
  return True


# ---------------------------------------------------------------- prepare
class Run:
  """A run directory being written; made by `prepare` (see the module docstring)."""

  def __init__(self, path, config, family, flag, previous):
    self.path, self.config, self.family, self.flag = path, config, family, flag
    self.previous = previous
    self.resumed = previous is not None
    self.started = False

  def start(self):
    """Writes config.json: on the first start, or when a "notice" option changed.

    Execution options never rewrite it, so that re-running a finished run with,
    e.g., another sampling default leaves the run as it was.
    """
    from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
    self.started = True
    if self.config is None:
      return
    previous = self.previous or {}
    current = settings(self.config)
    if (self.previous is None or previous.get("model") != self.family
        or any(previous.get(k) != v for k, v in current.items())):
      atomic_write_bytes(os.path.join(self.path, CONFIG_NAME),
                         to_json(self.config, self.family).encode("utf-8"))

  def file(self, *parts):
    return os.path.join(self.path, *parts)


@contextlib.contextmanager
def prepare(workdir, config, family, flag="--workdir"):
  """Checks, creates and locks run directory `workdir` for a run of `family`.

  Args:
    workdir: the run directory (created when missing).
    config: the run's config dataclass, compared with the run's config.json
      (field metadata `resume`); None for writers whose settings are checked
      elsewhere (their folder is still recognised and locked).
    family: the family that writes it ("singan", "ganimation", ...).
    flag: how messages name the folder.

  Yields:
    a `Run`; call `run.start()` once the inputs are known to be good.
  """
  check_folder_path(workdir, flag)
  previous = None
  if os.path.isdir(workdir):  # read-only checks first: a refused folder stays untouched
    _check_existing(workdir, config, family, flag, quiet=True)
  created = make_folder(workdir, flag)
  run = None
  try:
    with lock(workdir, flag):
      # Checked again under the lock: another writer may have started meanwhile.
      previous = _check_existing(workdir, config, family, flag)
      run = Run(workdir, config, family, flag, previous)
      yield run
  finally:
    if run is None or not run.started:
      remove_created(created)


def check_run(workdir, config, family, flag="--workdir"):
  """Read-only: refuses `workdir` if it holds another family's run or other settings."""
  if os.path.isdir(workdir):
    _check_existing(workdir, config, family, flag, quiet=True)


def _check_existing(workdir, config, family, flag, quiet=False):
  previous = read_config(workdir, flag)
  found, how = _found(workdir, previous)
  if found is not None and found != family:
    _refuse_foreign(workdir, family, found, how, flag, reader=False)
  if previous is None or config is None:
    return previous
  refused, noticed = _changes(config, previous)
  if refused:
    raise UserInputError(f"{flag}={workdir} holds a run with other settings ("
                         + "; ".join(refused) + f"); resume with the same flags or use a new "
                         f"{flag}")
  if noticed and not quiet:
    print(f"notice: {flag}={workdir}: options changed since the last start: "
          + "; ".join(noticed), flush=True)
  return previous
