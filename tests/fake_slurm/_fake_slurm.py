"""A fake SLURM for tests: the commands snakemake-executor-plugin-slurm calls, run on this machine.

All state lives under the folder named by the environment variable ``FAKE_SLURM_DIR``:

- ``next_id``                    the last job id handed out (ids start at 1001)
- ``jobs/<id>.json``             one record per ``sbatch`` call: argv, the parsed options
                                 (canonical long names), the command, the job name
- ``jobs/<id>.state``            PENDING, RUNNING, COMPLETED, FAILED or CANCELLED (written atomically)
- ``jobs/<id>.exit``             the job's exit code, once it ended
- ``jobs/<id>.pid``              the process group of the running job (for scancel)
- ``steps/<id>.<n>.json``        one record per ``srun`` inside job <id> (its options and command)

Commands (what the plugin and its jobstep plugin call, nothing more):

- ``sbatch [options] --wrap=CMD`` or ``sbatch [options] SCRIPT`` (``/dev/stdin`` reads the script
  from standard input): records the job, starts it in the background in its own session
  (working directory ``-D``, output ``--output`` with ``%j`` replaced, ``SLURM_*`` variables set)
  and prints the job id as ``--parsable`` does. A partition not listed in
  ``FAKE_SLURM_PARTITIONS`` (default ``main*``; ``*`` marks the default) is refused as real
  sbatch does. ``FAKE_SLURM_SYNC=1`` runs the job to its end before printing the id.
- ``sacct -X --parsable2 --noheader --format=JobIdRaw,State [--name N] [-j IDS]``: ``ID|STATE``
  lines; other formats (Account, Reason, NodeList) print nothing, as on a cluster without
  accounting of those fields.
- ``squeue --format=%i|%T --noheader [--name N] [--states=all] [-j IDS]``: the same lines (only
  pending and running jobs unless ``--states=all``).
- ``scancel ID...``: kills the jobs' process groups and marks them CANCELLED.
- ``sinfo -o %P``: the partition list.
- ``srun [options] CMD...``: records the step and execs CMD (its options are dropped).
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY")

# sbatch options that take a value as the next argument (short and long spellings -> long name)
_SBATCH_VALUE_OPTS = {
    "-J": "job-name", "--job-name": "job-name", "-o": "output", "--output": "output",
    "-e": "error", "--error": "error", "--comment": "comment", "-A": "account", "--account": "account",
    "-p": "partition", "--partition": "partition", "-M": "clusters", "--clusters": "clusters",
    "-t": "time", "--time": "time", "-C": "constraint", "--constraint": "constraint", "--qos": "qos",
    "--mem": "mem", "--mem-per-cpu": "mem-per-cpu", "-N": "nodes", "--nodes": "nodes",
    "-n": "ntasks", "--ntasks": "ntasks", "-c": "cpus-per-task", "--cpus-per-task": "cpus-per-task",
    "--cpus-per-gpu": "cpus-per-gpu", "--ntasks-per-gpu": "ntasks-per-gpu",
    "--ntasks-per-node": "ntasks-per-node", "-D": "chdir", "--chdir": "chdir", "--wrap": "wrap",
    "--export": "export", "--gres": "gres", "-G": "gpus", "--gpus": "gpus", "--exclude": "exclude",
    "-x": "exclude", "--reservation": "reservation", "-a": "array", "--array": "array",
}
_SBATCH_FLAGS = {"--parsable": "parsable", "--requeue": "requeue", "--no-requeue": "no-requeue",
                 "-Q": "quiet", "--quiet": "quiet"}
_SRUN_VALUE_OPTS = {"-n", "--ntasks", "-N", "--nodes", "-c", "--cpus-per-task", "-J", "--job-name",
                    "--jobid", "--mem", "--mem-per-cpu", "--cpu-bind", "-G", "--gpus", "--gres"}


def _die(prog, msg, code=1):
    sys.stderr.write(f"{prog}: error: {msg}\n")
    sys.exit(code)


def _state_dir(prog):
    d = os.environ.get("FAKE_SLURM_DIR")
    if not d:
        _die(prog, "FAKE_SLURM_DIR is not set (the fake SLURM keeps its jobs there)")
    d = Path(d)
    (d / "jobs").mkdir(parents=True, exist_ok=True)
    (d / "steps").mkdir(parents=True, exist_ok=True)
    return d


def _write_atomic(path, text):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _new_job_id(d):
    """Next job id; safe for concurrent sbatch calls (each id is claimed with O_EXCL)."""
    counter = d / "next_id"
    start = int(counter.read_text() or 1000) if counter.exists() else 1000
    jid = start + 1
    while True:
        try:
            os.close(os.open(d / "jobs" / f"{jid}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            jid += 1
    _write_atomic(counter, str(jid))
    return jid


def _partitions():
    names = os.environ.get("FAKE_SLURM_PARTITIONS", "main*").split(",")
    return [n.strip() for n in names if n.strip()]


def _parse_sbatch(argv):
    opts, flags, script = {}, [], None
    i = 0
    while i < len(argv):
        a = argv[i]
        if script is not None:  # arguments after the script go to the script (unused by the plugin)
            opts.setdefault("script-args", []).append(a)
        elif a in _SBATCH_FLAGS:
            flags.append(_SBATCH_FLAGS[a])
        elif a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            opts[_SBATCH_VALUE_OPTS.get(k, k[2:])] = v
        elif a in _SBATCH_VALUE_OPTS:
            if i + 1 >= len(argv):
                _die("sbatch", f"option {a} requires an argument")
            opts[_SBATCH_VALUE_OPTS[a]] = argv[i + 1]
            i += 1
        elif re.match(r"^-[A-Za-z]\S+$", a) and a[:2] in _SBATCH_VALUE_OPTS:  # -n1, -t60
            opts[_SBATCH_VALUE_OPTS[a[:2]]] = a[2:]
        elif a.startswith("-"):
            _die("sbatch", f"unrecognized option '{a}'")
        else:
            script = a
        i += 1
    return opts, flags, script


def sbatch(argv):
    d = _state_dir("sbatch")
    opts, flags, script = _parse_sbatch(argv)
    if "wrap" in opts and script is not None:
        _die("sbatch", "script arguments not permitted with --wrap option")
    if "wrap" in opts:
        command = opts["wrap"]
    elif script is not None:
        command = sys.stdin.read() if script in ("-", "/dev/stdin") else Path(script).read_text()
    else:
        _die("sbatch", "no batch script and no --wrap command given")
    parts = _partitions()
    default = next((p.rstrip("*") for p in parts if p.endswith("*")), None)
    known = [p.rstrip("*") for p in parts]
    partition = opts.get("partition", default)
    if partition is None:
        _die("sbatch", "no partition specified and there is no default partition")
    if partition not in known:
        _die("sbatch", "invalid partition specified: " + partition)
    for key in ("mem", "cpus-per-task", "ntasks"):
        if key in opts and not re.fullmatch(r"\d+[KMGT]?", opts[key]):
            _die("sbatch", f"invalid --{key} specification: {opts[key]}")
    if "time" in opts and not re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", opts["time"]):
        _die("sbatch", f"invalid time limit specification: {opts['time']}")
    jid = _new_job_id(d)
    workdir = opts.get("chdir", os.getcwd())
    record = {"id": jid, "argv": argv, "options": opts, "flags": flags, "partition": partition,
              "name": opts.get("job-name", "wrap" if "wrap" in opts else Path(script).name),
              "command": command, "workdir": workdir, "submitted": time.time()}
    _write_atomic(d / "jobs" / f"{jid}.json", json.dumps(record, indent=1))
    _write_atomic(d / "jobs" / f"{jid}.state", "PENDING")
    (d / "jobs" / f"{jid}.claim").unlink()
    runner = [sys.executable, str(Path(__file__).resolve()), "_run", str(jid)]
    if os.environ.get("FAKE_SLURM_SYNC") == "1":
        subprocess.run(runner, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        subprocess.Popen(runner, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    if "parsable" in flags:
        print(jid)
    else:
        print(f"Submitted batch job {jid}")


def _run(jid):
    """Run job <jid> (in its own session, started by sbatch) and record how it ended."""
    jobs = _state_dir("slurmd") / "jobs"
    try:
        _run_job(jobs, jid)
    except BaseException:
        # a job that could not even start is FAILED (never left PENDING: the caller would wait forever)
        _write_atomic(jobs / f"{jid}.state", "FAILED")
        raise


def _run_job(jobs, jid):
    rec = json.loads((jobs / f"{jid}.json").read_text())
    opts = rec["options"]
    out = opts.get("output", f"slurm-{jid}.out").replace("%j", str(jid)).replace("%A", str(jid))
    out = Path(rec["workdir"], out)
    err = Path(rec["workdir"], opts["error"].replace("%j", str(jid))) if "error" in opts else None
    env = dict(os.environ)
    env.update({"SLURM_JOB_ID": str(jid), "SLURM_JOBID": str(jid), "SLURM_JOB_NAME": rec["name"],
                "SLURM_JOB_PARTITION": rec["partition"], "SLURM_SUBMIT_DIR": rec["workdir"],
                "SLURM_NTASKS": opts.get("ntasks", "1"), "SLURM_CLUSTER_NAME": "fake",
                "SLURM_CPUS_PER_TASK": opts.get("cpus-per-task", "1"), "SLURM_JOB_NODELIST": "localhost"})
    if "mem" in opts:
        env["SLURM_MEM_PER_NODE"] = opts["mem"]
    script = jobs / f"{jid}.sh"
    script.write_text("#!/bin/sh\n" + rec["command"] + "\n")
    with open(out, "ab") as fo:
        fe = open(err, "ab") if err else fo
        try:
            proc = subprocess.Popen(["/bin/sh", str(script)], cwd=rec["workdir"], env=env, stdin=subprocess.DEVNULL,
                                    stdout=fo, stderr=fe, start_new_session=True)
            _write_atomic(jobs / f"{jid}.pid", str(proc.pid))
            _write_atomic(jobs / f"{jid}.state", "RUNNING")
            code = proc.wait()
        finally:
            if err:
                fe.close()
    _write_atomic(jobs / f"{jid}.exit", str(code))
    if (jobs / f"{jid}.state").read_text() != "CANCELLED":
        _write_atomic(jobs / f"{jid}.state", "COMPLETED" if code == 0 else "FAILED")


def _all_jobs(d):
    out = []
    for p in sorted((d / "jobs").glob("*.json"), key=lambda p: int(p.stem)):
        rec = json.loads(p.read_text())
        state_file = p.with_suffix(".state")
        rec["state"] = state_file.read_text().strip() if state_file.exists() else "PENDING"
        out.append(rec)
    return out


def _option_values(argv, names):
    """Values of options `names` (e.g. ('--name',)) given as `--name X` or `--name=X`."""
    vals = []
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                vals.append(argv[i + 1])
            elif a.startswith(n + "=") and n.startswith("--"):
                vals.append(a[len(n) + 1:])
            elif not n.startswith("--") and a.startswith(n) and len(a) > len(n):
                vals.append(a[len(n):])
    return vals


def _select(jobs, argv):
    names = {n for v in _option_values(argv, ("--name", "--jobname")) for n in v.split(",")}
    ids = {i.split(".")[0] for v in _option_values(argv, ("-j", "--jobs")) for i in v.split(",")}
    return [j for j in jobs if (not names or j["name"] in names) and (not ids or str(j["id"]) in ids)]


def sacct(argv):
    d = _state_dir("sacct")
    fmt = ",".join(_option_values(argv, ("--format", "-o"))).lower()
    if "state" not in fmt:
        # Account, Reason, NodeList, ...: nothing recorded for them here
        return
    fields = [f.split("%")[0] for f in fmt.split(",")]
    sep = "|"
    for j in _select(_all_jobs(d), argv):
        values = {"jobidraw": str(j["id"]), "jobid": str(j["id"]), "state": j["state"],
                  "jobname": j["name"], "partition": j["partition"]}
        row = sep.join(values.get(f, "") for f in fields)
        print(row + (sep if "--parsable" in argv else ""))


def squeue(argv):
    d = _state_dir("squeue")
    fmt = (_option_values(argv, ("--format", "-o")) or ["%i|%T"])[-1]
    states = ",".join(_option_values(argv, ("--states", "-t"))).lower()
    show = lambda s: "all" in states or s in ("PENDING", "RUNNING")  # noqa: E731
    for j in _select(_all_jobs(d), argv):
        if show(j["state"]):
            print(fmt.replace("%i", str(j["id"])).replace("%T", j["state"]).replace("%j", j["name"]))


def scancel(argv):
    d = _state_dir("scancel")
    ids = [a for a in argv if not a.startswith("-")]
    for jid in ids:
        jid = jid.split("_")[0]
        state = d / "jobs" / f"{jid}.state"
        if not state.exists():
            _die("scancel", f"Invalid job id specified: {jid}")
        if state.read_text() in FINAL:
            continue
        _write_atomic(state, "CANCELLED")
        pid = d / "jobs" / f"{jid}.pid"
        if pid.exists():
            try:
                os.killpg(int(pid.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def sinfo(argv):
    fmt = (_option_values(argv, ("-o", "--format")) or ["%P"])[-1]
    if "%P" not in fmt:
        _die("sinfo", f"fake sinfo only knows the format %P, not {fmt}")
    if "-h" not in argv and "--noheader" not in argv:
        print("PARTITION")
    for p in _partitions():
        print(p)


def srun(argv):
    d = _state_dir("srun")
    jid = os.environ.get("SLURM_JOB_ID")
    if not jid:
        _die("srun", "not inside a job allocation (the fake srun only runs job steps)")
    opts, i = [], 0
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a in _SRUN_VALUE_OPTS and "=" not in a:
            opts.append(a + "=" + argv[i + 1])
            i += 1
        else:
            opts.append(a)
        i += 1
    cmd = argv[i:]
    if not cmd:
        _die("srun", "no command given")
    n = len(list((d / "steps").glob(f"{jid}.*.json")))
    _write_atomic(d / "steps" / f"{jid}.{n}.json", json.dumps({"job": int(jid), "options": opts, "command": cmd}))
    os.execvp(cmd[0], cmd)


COMMANDS = {"sbatch": sbatch, "sacct": sacct, "squeue": squeue, "scancel": scancel, "sinfo": sinfo, "srun": srun}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_run":
        _run(sys.argv[2])
    else:
        sys.exit(f"usage: {shlex.join(sys.argv)}: call sbatch, sacct, squeue, scancel, sinfo or srun")
