"""The bad-input catalogue: every way a command, a file, a folder or a run can be wrong, and what exposim does.

Each case asserts (a) the exit status or the exception, (b) that the message
names the problem (the key or file, the bad value and, where sensible, what is
allowed: meaningful fragments, not whole sentences) and (c) exactly what is on
disk afterwards (:func:`tests.bad_inputs.helpers.tree`: the sorted relative
paths under the test's folder). Commands are checked in-process with
:func:`sim.preflight.check` wherever the process boundary is not the point;
subprocesses are used only for exit statuses and "nothing written to the
working folder".

Groups, one file each:

1. ``test_bad_config.py`` — Config: out-of-range values (several sections),
   non-finite numbers, unknown choices and group options (listed), wrong
   types, unknown keys with and without ``+``/``++`` (with "did you mean"),
   ``+foo._target_=os.system``, strict booleans, deletions with ``~``,
   cross-field rules (days, role shares, contact kinds, recency vs retention,
   decoys), sweep syntax without ``-m``, worlds too large for memory
   (``EXPOSIM_MEMORY_LIMIT``), and the values that must be accepted.
2. ``test_bad_graph_files.py`` — Graph files (``network=file``): missing, a
   directory, unknown extension, empty, only comments, a malformed line,
   GraphML that does not parse, a bad ``age``, too few nodes, too many decoys
   for the file, and the good case (the file sets ``population.n``).
3. ``test_bad_sweeps.py`` — Sweeps (``-m``): one bad job among several, an
   unknown ``+key``, a missing graph file in one job, two jobs writing one
   folder, launchers whose plugin is missing, a sweep folder under a file,
   memory times parallel jobs.
4. ``test_bad_output_folders.py`` — Output folders: a file, under a file, a
   broken symbolic link, a read-only file system (a tmpfs mounted ``ro``;
   skipped where mounting is not permitted).
5. ``test_resume_identity.py`` — Resume and identity: an intact run is kept;
   edited manifests, changed, missing or unlisted tables, a different config,
   different code and a rewritten graph file are each named by
   :func:`sim.io.verify_run` and recomputed by ``run(..., resume=True)``.
6. ``test_bad_compare.py`` — ``python -m sim.analysis compare``: option
   bounds, runs made by different code (refused unless ``--mixed-code``),
   folders with no usable run; nothing written on refusal.
7. ``test_faults.py`` — Faults while writing: an interrupt between tables, a
   full disk (patched, and a real tiny tmpfs), and files that follow the umask.
8. ``test_cli_refusals.py`` — The real command line in an empty working folder:
   refusals exit 2 and leave the folder empty (no ``outputs/``); a good tiny
   run writes exactly one run folder.
"""
