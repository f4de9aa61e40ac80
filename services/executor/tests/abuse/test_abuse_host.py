"""Abuse: reaching the host from inside — secrets, files, processes, privileges, kernel surfaces.

Each case tries every variant of one attack and asserts that each was refused (a verdict line per
attempt, so a case whose code never ran fails too); the `abuse` fixture then checks that the host
canary, the host's processes and the platform are unaffected.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import stat
from pathlib import Path

import pytest

from sandbox_testing.abuse import NOBODY, SECRET_ENV, Abuse, HostSleeper
from voidrunner.executor.sandbox.types import OutputChunk, TerminationReason

pytestmark = [pytest.mark.sandbox, pytest.mark.hardening(group_by="backend")]


def allowed(verdicts: dict[str, str]) -> dict[str, str]:
    return {label: v for label, v in verdicts.items() if v.startswith("ALLOWED")}


async def test_etc_shadow_is_unreadable(abuse: Abuse) -> None:
    shadow = Path("/etc/shadow")
    host_shadow = shadow.read_bytes() if shadow.exists() else b""
    body = """
attempt("read", lambda: open("/etc/shadow", "rb").read())
attempt("read-gshadow", lambda: open("/etc/gshadow", "rb").read())
attempt("via-proc-root", lambda: open("/proc/1/root/etc/shadow", "rb").read())
"""
    result, verdicts = await abuse.attempts(body)
    assert set(verdicts) == {"read", "read-gshadow", "via-proc-root"}, result
    assert allowed(verdicts) == {}
    for line in host_shadow.splitlines():
        assert line not in result.stdout


async def test_executor_environment_is_not_visible(abuse: Abuse) -> None:
    # The `abuse` fixture puts a secret VOIDRUNNER_DATABASE_URL into this (the executor's)
    # environment and fails any run whose output contains it; here the code goes looking for it.
    body = f"""
import glob
print("own", SECRET_ENV in os.environ)
for path in sorted(glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline")):
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        print("denied", path.replace("/", "_"), type(exc).__name__)
        continue
    print("read", path, b"{SECRET_ENV}" in data, data)
print("init-environ", open("/proc/1/environ", "rb").read())
""".replace("SECRET_ENV in", f"{SECRET_ENV!r} in")
    result, _ = await abuse.attempts(body)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert b"own False" in result.stdout
    assert b"/proc/1/environ" in result.stdout, "the supervisor's environ was not even tried"
    assert b" True " not in result.stdout, result.stdout
    if abuse.name.startswith("bwrap"):
        # bwrap's init (pid 1) starts from an empty environment: not even the PWD and SHLVL a
        # shell in front of bwrap exports, which named the executor's working directory.
        assert b"init-environ b''" in result.stdout.splitlines(), result.stdout


async def test_ptrace_reaches_nothing_outside_the_sandbox(
    abuse: Abuse, host_sleeper: HostSleeper
) -> None:
    # ptrace and friends on a host process (an unprivileged host uid, nobody) must fail. The
    # sandbox's own supervisor (pid 1: bwrap's init, or the docker launcher) may be reachable
    # where the backend allows ptrace among the sandbox's processes (Docker's default profile
    # does); it then must hold nothing the code does not already have: no capability, the same
    # uid and no host secret in its environment or memory (the fixture fails any output that
    # contains the executor's secret).
    host_pid = host_sleeper.proc.pid
    body = f"""
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(64)
local, remote = iovec(ctypes.addressof(buf), 64), iovec(0x400000, 64)
attempt("ptrace-host", lambda: check(libc.ptrace(16, {host_pid}, None, None)))
attempt("seize-host", lambda: check(libc.ptrace(0x4206, {host_pid}, None, None)))
attempt("vm-readv-host", lambda: check(
    libc.process_vm_readv({host_pid}, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)))
attempt("mem-host", lambda: open("/proc/{host_pid}/mem", "rb").read(1))
status = open("/proc/1/status").read().splitlines()
print("supervisor", *[l.replace(chr(9), " ") for l in status if l.startswith(("Uid", "CapEff"))])
try:
    print("supervisor-environ", open("/proc/1/environ", "rb").read())
except OSError as exc:
    print("supervisor-environ unreadable", exc.errno)
try:
    with open("/proc/1/maps") as maps, open("/proc/1/mem", "rb", buffering=0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(lo)
                data = mem.read(min(hi - lo, 1 << 24))
            except OSError:
                continue
            for word in (b"{SECRET_ENV}", b"postgres://"):
                at = data.find(word)
                if at >= 0:
                    print("supervisor-memory", data[at:at + 160])
    print("supervisor-memory scanned")
except OSError as exc:
    print("supervisor-memory unreadable", exc.errno)
"""
    result, verdicts = await abuse.attempts(body)
    assert set(verdicts) == {"ptrace-host", "seize-host", "vm-readv-host", "mem-host"}, result
    assert allowed(verdicts) == {}
    supervisor = next(x for x in result.stdout.splitlines() if x.startswith(b"supervisor "))
    assert b"CapEff: 0000000000000000" in supervisor, supervisor
    assert host_sleeper.proc.poll() is None


async def test_host_files_and_mounts_are_out_of_reach(abuse: Abuse) -> None:
    canary = abuse.canary.path
    targets = [
        str(canary),
        str(canary.parent),
        "/work/main/pyproject.toml",
        "/root",
        "/var/lib/docker",
        "/tmp/vr-docker/daemon.json",
        "/etc/hostname-of-the-host-does-not-exist",
        f"/proc/1/root{canary}",
    ]
    body = f"""
for i, path in enumerate({targets!r}):
    attempt(f"open-{{i}}", lambda: open(path, "rb").read(200))
    attempt(f"list-{{i}}", lambda: os.listdir(path))
"""
    assert canary.read_text() == abuse.canary.token  # positive control: it is there on the host
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == 2 * len(targets), result
    assert allowed(verdicts) == {}


async def test_host_unix_sockets_are_unreachable(abuse: Abuse) -> None:
    # The Docker engine's socket (root on the host!), Postgres' socket, and an abstract socket:
    # abstract names are per network namespace, so only a shared one would reach this.
    name = f"vr-abuse-{secrets.token_hex(6)}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + name)
    abstract.listen(4)
    paths = [
        "/tmp/vr-docker/docker.sock",
        "/var/run/docker.sock",
        "/run/containerd/containerd.sock",
    ]
    paths += [str(p) for p in Path("/var/run/postgresql").glob(".s.PGSQL.*")]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
        control.connect("\0" + name)  # positive control: the host reaches it
        abstract.accept()[0].close()
    body = f"""
def connect(address):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(address)
    return "connected"
attempt("abstract", lambda: connect("\\0{name}"))
for i, path in enumerate({paths!r}):
    attempt(f"path-{{i}}", lambda: connect(path))
"""
    try:
        result, verdicts = await abuse.attempts(body)
        assert len(verdicts) == 1 + len(paths), result
        assert allowed(verdicts) == {}
        abstract.setblocking(False)
        with pytest.raises(BlockingIOError):
            abstract.accept()
    finally:
        abstract.close()


async def test_host_processes_are_invisible(abuse: Abuse, host_sleeper: HostSleeper) -> None:
    body = f"""
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("pids", len(pids))
for pid in pids:
    try:
        if b"{host_sleeper.mark}" in open(f"/proc/{{pid}}/cmdline", "rb").read():
            print("SEEN", pid)
    except OSError:
        pass
attempt("by-host-pid", lambda: os.stat(f"/proc/{host_sleeper.proc.pid}/cmdline").st_uid)
"""
    result, _ = await abuse.attempts(body)
    words = result.stdout.split()
    assert words[:1] == [b"pids"], result
    assert int(words[1]) < 10, "the sandbox sees more processes than its own"
    assert b"SEEN" not in result.stdout
    assert host_sleeper.proc.poll() is None


async def test_host_processes_cannot_be_signalled(abuse: Abuse, host_sleeper: HostSleeper) -> None:
    # The sleeper runs as the host uid bwrap's sandboxes map to: only the pid namespace stands
    # between them. SIGURG (ignored by default everywhere) so that a broken sandbox harms nobody.
    body = f"""
import signal
attempt("kill-host-pid", lambda: os.kill({host_sleeper.proc.pid}, signal.SIGURG))
attempt("kill-minus-one", lambda: os.kill(-1, signal.SIGURG))
attempt("kill-pgrp-1", lambda: os.killpg(1, signal.SIGURG))
"""
    result, verdicts = await abuse.attempts(body)
    assert set(verdicts) == {"kill-host-pid", "kill-minus-one", "kill-pgrp-1"}, result
    assert host_sleeper.received() == 0, "a signal from the sandbox reached a host process"
    assert host_sleeper.proc.poll() is None


async def test_mount_attempts_are_refused(abuse: Abuse) -> None:
    body = """
def mount(source, target, fstype, flags=0):
    return check(libc.mount(source, target, fstype, flags, None))
os.makedirs("/tmp/m", exist_ok=True)
attempt("tmpfs", lambda: mount(b"none", b"/tmp/m", b"tmpfs"))
attempt("proc", lambda: mount(b"proc", b"/tmp/m", b"proc"))
attempt("bind-root", lambda: mount(b"/", b"/tmp/m", None, 4096))  # MS_BIND
attempt("remount-usr-rw", lambda: mount(None, b"/usr", None, 32 | 4096))  # MS_REMOUNT|MS_BIND
attempt("remount-root-rw", lambda: mount(None, b"/", None, 32))  # MS_REMOUNT
attempt("umount-proc", lambda: check(libc.umount2(b"/proc", 2)))  # MNT_DETACH
attempt("fsopen", lambda: check(libc.syscall(430, b"tmpfs", 0)))
attempt("open-tree", lambda: check(libc.syscall(428, -100, b"/", 1)))  # OPEN_TREE_CLONE
"""
    _, verdicts = await abuse.attempts(body)
    assert len(verdicts) == 8, verdicts
    assert allowed(verdicts) == {}


async def test_namespace_escapes_are_refused(abuse: Abuse) -> None:
    # unshare (each namespace kind), setns into pid 1's namespaces, clone with CLONE_NEWUSER, and
    # the `unshare` tool (user namespace as "root").
    body = """
import subprocess
for name, flag in [("user", 0x10000000), ("mnt", 0x20000), ("pid", 0x20000000),
                   ("net", 0x40000000), ("uts", 0x4000000), ("ipc", 0x8000000),
                   ("cgroup", 0x2000000)]:
    attempt(f"unshare-{name}", lambda: check(libc.unshare(flag)))
for ns in ["mnt", "pid", "net", "user"]:
    def setns(ns=ns):
        fd = os.open(f"/proc/1/ns/{ns}", os.O_RDONLY)
        try:
            return check(libc.setns(fd, 0))
        finally:
            os.close(fd)
    attempt(f"setns-{ns}", setns)
attempt("clone-newuser", lambda: check(libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)))
def tool():
    done = subprocess.run(["unshare", "-r", "id", "-u"], capture_output=True, timeout=5)
    if done.returncode != 0:
        raise OSError(1, done.stderr.decode()[:80])
    return done.stdout
attempt("unshare-tool", tool)
"""
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == 13, result
    leaked = allowed(verdicts)
    # setns into the namespaces one already is in changes nothing; gVisor allows that no-op.
    assert leaked == {}, leaked


async def test_chroot_and_pivot_root_are_refused(abuse: Abuse) -> None:
    body = """
os.makedirs("/tmp/new/old", exist_ok=True)
attempt("chroot", lambda: check(libc.chroot(b"/tmp/new")))
attempt("pivot-root", lambda: check(libc.syscall(155, b"/tmp/new", b"/tmp/new/old")))
attempt("chroot-escape-dotdot", lambda: os.listdir("/proc/1/root/.."))
"""
    _, verdicts = await abuse.attempts(body)
    assert set(verdicts) == {"chroot", "pivot-root", "chroot-escape-dotdot"}, verdicts
    leaked = allowed(verdicts)
    # Listing /proc/1/root/.. is fine as long as it is the sandbox's own root (checked below
    # by other cases: host paths stay unreachable); chroot and pivot_root must fail.
    leaked.pop("chroot-escape-dotdot", None)
    assert leaked == {}


async def test_setuid_binaries_do_not_elevate(abuse: Abuse) -> None:
    # Each setuid program found (root's; under bwrap's user namespace its owner shows as the
    # overflow uid) is started with a pipe for stdin (most wait for a password)
    # and its effective uid sampled while it runs. no_new_privs and nosuid mounts must keep every
    # one of them at the sandbox user.
    body = """
import subprocess, time
found = []
for folder in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]:
    try:
        names = os.listdir(folder)
    except OSError:
        continue
    for name in names:
        path = os.path.join(folder, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_mode & 0o4000 and os.path.realpath(path) not in found:
            found.append(os.path.realpath(path))
print("setuid", len(found))
nnp = [l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")]
print("nnp", nnp)
for path in found:
    proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    euids = set()
    for _ in range(20):
        try:
            uid_line = [l for l in open(f"/proc/{proc.pid}/status") if l.startswith("Uid:")]
            euids.add(int(uid_line[0].split()[2]))
        except (OSError, IndexError):
            break
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    print("ran", os.path.basename(path), sorted(euids), "RAISED" if euids - {os.getuid()} else "")
"""
    result, _ = await abuse.attempts(body)
    assert result.termination_reason is TerminationReason.EXIT, result
    lines = result.stdout.decode().splitlines()
    count = int(lines[0].split()[1])
    assert count >= 1, "no setuid program to try: the case proves nothing"
    ran = [line for line in lines if line.startswith("ran ")]
    assert len(ran) == count, result.stdout
    assert not [line for line in ran if "RAISED" in line], ran


async def test_system_dirs_and_kernel_files_are_not_writable(abuse: Abuse) -> None:
    # Opening for writing (never writing) is enough proof; /proc/sysrq-trigger and the cgroup
    # limit files would let the code crash the host or lift its own limits.
    targets = [
        "/usr/bin/python3",
        "/usr/lib/os-release",
        "/etc/passwd",
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/drop_caches",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/cgroup.procs",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ]
    dirs = ["/", "/usr", "/usr/bin", "/etc", "/bin", "/lib", "/var", "/root", "/proc", "/sys"]
    body = f"""
for i, path in enumerate({targets!r}):
    attempt(f"write-{{i}}", lambda: os.close(os.open(path, os.O_WRONLY)))
for i, path in enumerate({dirs!r}):
    def create(path=path):
        fd = os.open(os.path.join(path, "vr-abuse"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        os.unlink(os.path.join(path, "vr-abuse"))
    attempt(f"create-{{i}}", create)
def mknod_mem():
    # gVisor lets a node be made in its own tmpfs; what matters is that it never opens host
    # memory.
    os.mknod("/tmp/mem", 0o600 | 0o20000, os.makedev(1, 1))
    fd = os.open("/tmp/mem", os.O_RDONLY)
    try:
        return os.read(fd, 1)
    finally:
        os.close(fd)
attempt("mknod-mem", mknod_mem)
"""
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == len(targets) + len(dirs) + 1, result
    assert allowed(verdicts) == {}


async def test_planted_links_are_never_followed_by_the_host(abuse: Abuse) -> None:
    # Judge0's escapes: sandboxed code planted a symlink where the host later wrote (or chowned).
    # Here the code plants symlinks and hardlinks at every name the backends use, pointing at host
    # files; the host canary (and /etc/shadow) must be unchanged afterwards, and a second run
    # must start from an empty work dir.
    shadow = Path("/etc/shadow")
    shadow_before = (hashlib.sha256(shadow.read_bytes()).hexdigest(), shadow.stat())
    canary = str(abuse.canary.path)
    names = ["main", "main.py", "main.go", "main.js", "main.sh", "stdin", "artifact", "x"]
    body = f"""
targets = [{canary!r}, "/etc/shadow", "/etc/passwd", "/proc/1/root", "../../../..", "/"]
for folder in ["/tmp", "/sandbox", "/dev/shm", "/tmp/.cache"]:
    os.makedirs(folder, exist_ok=True) if folder.startswith("/tmp") else None
    for i, name in enumerate({names!r}):
        link = os.path.join(folder, name)
        def plant(link=link, target=targets[i % len(targets)]):
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(target, link)
        attempt(f"symlink-{{folder}}-{{name}}", plant)
attempt("hardlink-canary", lambda: os.link({canary!r}, "/tmp/hard-canary"))
attempt("hardlink-python", lambda: os.link("/usr/bin/python3", "/tmp/hard-python"))
attempt("hardlink-shadow", lambda: os.link("/etc/shadow", "/tmp/hard-shadow"))
attempt("write-through-link", lambda: open("/tmp/x", "w").write("pwned"))
attempt("chown-through-link", lambda: os.chown("/tmp/main", 65534, 65534))
print("listing", sorted(os.listdir("/tmp")))
"""
    result, verdicts = await abuse.attempts(body)
    assert result.termination_reason is TerminationReason.EXIT, result
    planted = [v for label, v in verdicts.items() if label.startswith("symlink-/tmp-")]
    assert planted == ["ALLOWED None"] * len(names), "the positive control: /tmp takes symlinks"
    for label in ("hardlink-canary", "hardlink-python", "hardlink-shadow"):
        assert verdicts[label].startswith("denied"), verdicts[label]
    after = (hashlib.sha256(shadow.read_bytes()).hexdigest(), shadow.stat())
    assert after[0] == shadow_before[0]
    assert (after[1].st_mode, after[1].st_uid, after[1].st_gid) == (
        shadow_before[1].st_mode,
        shadow_before[1].st_uid,
        shadow_before[1].st_gid,
    )
    fresh = await abuse.run("import os\nprint(sorted(os.listdir('/tmp')))")
    # Only the fresh run's own program is there: nothing an earlier run left.
    assert fresh.stdout == b"['main.py']\n", "a run's work dir outlived it"


async def test_dangerous_devices_are_absent(abuse: Abuse) -> None:
    devices = [
        "/dev/mem",
        "/dev/kmem",
        "/dev/port",
        "/dev/kmsg",
        "/dev/sda",
        "/dev/vda",
        "/dev/nvme0n1",
        "/dev/loop0",
        "/dev/loop-control",
        "/dev/mapper/control",
        "/dev/cpu/0/msr",
        "/dev/hpet",
        "/dev/rtc0",
        "/dev/snapshot",
        "/dev/console",
        "/dev/tty0",
        "/dev/kvm",
        "/dev/vsock",
    ]
    body = f"""
import fcntl, struct
for i, path in enumerate({devices!r}):
    attempt(f"open-{{i}}", lambda: os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK)))
def tun():
    # gVisor emulates /dev/net/tun inside its own kernel; creating an interface must still fail.
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"vrtun0", 0x0001 | 0x1000))
    finally:
        os.close(fd)
attempt("tun-create", tun)
attempt("devices-listed", lambda: sorted(os.listdir("/dev")))
"""
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == len(devices) + 2, result
    leaked = allowed(verdicts)
    leaked.pop("devices-listed", None)
    assert leaked == {}


async def test_kernel_attack_surface_is_closed(abuse: Abuse) -> None:
    # Calls that reach large, bug-prone kernel subsystems, and host-global settings.
    body = """
import time
attempt("bpf", lambda: check(libc.syscall(321, 0, 0, 0)))
attempt("keyctl", lambda: check(libc.syscall(250, 0, 0, 0, 0, 0)))  # KEYCTL_GET_KEYRING_ID
attempt("add-key", lambda: check(libc.syscall(248, b"user", b"vr", b"x", 1, -2)))
attempt("perf-event-open", lambda: check(libc.syscall(298, ctypes.create_string_buffer(128),
                                                       0, -1, -1, 0)))
attempt("userfaultfd", lambda: check(libc.syscall(323, 0)))
attempt("kexec-load", lambda: check(libc.syscall(246, 0, 0, 0, 0)))
attempt("init-module", lambda: check(libc.syscall(175, 0, 0, b"")))
attempt("syslog-read", lambda: check(libc.syscall(103, 3, ctypes.create_string_buffer(64), 64)))
attempt("sethostname", lambda: check(libc.sethostname(b"pwned", 5)))
attempt("settimeofday", lambda: check(libc.settimeofday(ctypes.c_void_p(0), ctypes.c_void_p(0)))
        if False else check(libc.clock_settime(0, (ctypes.c_long * 2)(int(time.time()), 0))))
attempt("acct", lambda: check(libc.acct(b"/tmp/acct")))
attempt("swapon", lambda: check(libc.swapon(b"/tmp/swap", 0)))
attempt("reboot", lambda: check(libc.syscall(169, 0xfee1dead, 672274793, 0, 0)))  # CAD_OFF
"""
    hostname = socket.gethostname()
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == 13, result
    assert allowed(verdicts) == {}
    assert socket.gethostname() == hostname


async def test_one_run_cannot_see_another_runs_work_dir(abuse: Abuse) -> None:
    secret = f"cross-run-{secrets.token_hex(12)}"
    victim_src = f"""
import os, time
with open("/tmp/{secret}", "w") as f:
    f.write("{secret}")
os.makedirs("/dev/shm/vr", exist_ok=True)
open("/dev/shm/vr/{secret}", "w").write("{secret}")
print("ready", sorted(os.listdir("/tmp")), flush=True)
time.sleep(30)
"""
    ready = asyncio.Event()

    async def on_output(chunk: OutputChunk) -> None:
        if b"ready" in chunk.data:
            ready.set()

    cancel = asyncio.Event()
    victim = asyncio.create_task(abuse.run(victim_src, on_output=on_output, cancel=cancel))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        hidden = secret[::-1]  # the thief's own source must not contain the secret
        body = f"""
import glob
secret = "{hidden}"[::-1]
found = []
for pattern in ["/tmp/*", "/tmp/.*", "/dev/shm/*", "/dev/shm/*/*", "/sandbox/*",
                "/proc/*/root/tmp/*", "/proc/*/cwd/*", "/proc/*/root/dev/shm/*/*"]:
    found += glob.glob(pattern)
for path in found:
    try:
        if secret.encode() in open(path, "rb").read():
            print("STOLEN", path)
    except OSError:
        pass
    if secret in path:
        print("SEEN", path)
print("searched", len(found))
"""
        result, _ = await abuse.attempts(body)
        assert b"searched" in result.stdout, result
        assert b"STOLEN" not in result.stdout, result.stdout
        assert b"SEEN" not in result.stdout, result.stdout
    finally:
        cancel.set()
        victim_result = await victim
    # The positive control: the secret really was there, in the victim's own work dir.
    assert secret.encode() in victim_result.stdout
    assert victim_result.termination_reason is TerminationReason.CANCELLED


async def test_runs_do_not_share_identity_with_the_host(abuse: Abuse) -> None:
    # The sandbox user must not be host root, nor hold any capability; where bwrap runs the
    # sandbox under a host uid, that uid is the unprivileged one (never 0).
    body = """
status = open("/proc/self/status").read()
caps = {l.split(":")[0]: int(l.split()[1], 16) for l in status.splitlines() if l.startswith("Cap")}
print("ids", os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())
print("caps", caps["CapEff"], caps["CapPrm"], caps["CapBnd"], caps.get("CapAmb", 0))
attempt("setuid-0", lambda: os.setuid(0))
attempt("setgid-0", lambda: os.setgid(0))
attempt("setgroups", lambda: os.setgroups([0]))
"""
    result, verdicts = await abuse.attempts(body)
    lines = dict(line.split(" ", 1) for line in result.stdout.decode().splitlines()[:2])
    uid, euid, gid, egid = (int(x) for x in lines["ids"].split()[:4])
    assert NOBODY == uid == euid, lines
    assert NOBODY in (gid, egid), lines
    eff, prm, _bnd, amb = (int(x) for x in lines["caps"].split())
    assert (eff, prm, amb) == (0, 0, 0)
    assert allowed(verdicts) == {}


def test_host_canary_is_really_protected(abuse: Abuse) -> None:
    # Sanity of the suite itself: the canary is unreadable to the sandbox's host uid too.
    mode = abuse.canary.path.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(abuse.canary.directory.stat().st_mode) == 0o700
    assert os.environ[SECRET_ENV] == abuse.env_secret
