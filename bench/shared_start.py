#!/usr/bin/env python3
"""The Monday-morning start: N workspaces' preflights at once against one shared Postgres.

Starts a throw-away PostgreSQL cluster on loopback (initdb as the postgres user into a temp
dir, a free port, max_connections=30), configures N projects in shared mode, then starts N
`coder-convex doctor --fix` at once (the preflight `setup` runs: connect, create the
workspace's database, mark it). While they run, one superuser connection samples
pg_stat_activity; each preflight connects with its own application_name, so the most
connections any one preflight held at once is measured. Prints p50/p99/max time to a ready
database and fails unless all N succeed, N distinct marked databases exist and no
preflight held more than one connection.

    bench/shared_start.py BIN [N]
"""
import glob, json, os, shutil, socket, subprocess, sys, tempfile, threading, time

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
MAX_CONNECTIONS = 30
pgbin = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1].rsplit("/", 1)[0]
work = tempfile.mkdtemp(prefix="shared-start-")
os.chmod(work, 0o755)
data = os.path.join(work, "data")


def as_postgres(*args):
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)


with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
shutil.chown(work, "postgres", "postgres")
as_postgres(f"{pgbin}/initdb", "-D", data, "-U", "postgres", "--auth=trust")
as_postgres(f"{pgbin}/pg_ctl", "-D", data, "-l", f"{work}/log", "-w", "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={work} "
            f"-c max_connections={MAX_CONNECTIONS}", "start")


def psql(sql):
    return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                           "postgres", "-Atqc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


try:
    # The team's admin role: may create databases, not a superuser (so the reserved slots
    # stay free for the sampler, as they do for a server's admin).
    psql("CREATE ROLE convex_admin LOGIN CREATEDB")
    projects = []
    for i in range(N):
        d = os.path.join(work, f"p{i}")
        os.mkdir(d)
        env = {"PATH": os.environ["PATH"], "HOME": d,
               "CODER_CONVEX_SHARED_POSTGRES_URL":
                   f"postgres://convex_admin@127.0.0.1:{port}/postgres?application_name=bench-{i}",
               "CODER_CONVEX_WORKSPACE_ID": f"bench-workspace-{i}",
               "CODER_WORKSPACE_OWNER_NAME": "bench", "CODER_WORKSPACE_NAME": f"ws{i}",
               "CODER_CONVEX_BACKEND_URL": "http://127.0.0.1:9"}
        subprocess.run([BIN, "--project-dir", d, "-q", "configure"], env=env, check=True)
        projects.append((d, env))

    held = {}
    total_peak = [0]
    stop = threading.Event()

    def sample():
        q = ("SELECT application_name, count(*) FROM pg_stat_activity "
             "WHERE application_name LIKE 'bench-%' GROUP BY 1;\n\\echo END\n")
        p = subprocess.Popen(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                              "postgres", "-Atq", "-F", " "], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, bufsize=1)
        while not stop.is_set():
            p.stdin.write(q)
            total = 0
            for line in p.stdout:
                line = line.strip()
                if line == "END":
                    break
                name, count = line.rsplit(" ", 1)
                held[name] = max(held.get(name, 0), int(count))
                total += int(count)
            total_peak[0] = max(total_peak[0], total)
        p.stdin.close()
        p.wait()

    sampler = threading.Thread(target=sample)
    sampler.start()
    time.sleep(0.5)
    results = [None] * N
    gate = threading.Barrier(N + 1)

    def one(i, d, env):
        gate.wait()
        t0 = time.monotonic()
        out = subprocess.run([BIN, "--project-dir", d, "--json", "doctor", "--fix",
                              "--timeout", "120"], env=env, capture_output=True, text=True).stdout
        elapsed = time.monotonic() - t0
        checks = json.loads(out)["checks"]
        ok = any(c["name"] == "database" and c["status"] == "pass" for c in checks)
        results[i] = (ok, elapsed)

    threads = [threading.Thread(target=one, args=(i, d, env)) for i, (d, env) in enumerate(projects)]
    for t in threads:
        t.start()
    gate.wait()
    for t in threads:
        t.join()
    stop.set()
    sampler.join()

    ok = [r for r in results if r and r[0]]
    times = sorted(r[1] for r in ok)
    marked = int(psql("SELECT count(DISTINCT datname) FROM pg_database WHERE "
                      "shobj_description(oid, 'pg_database') LIKE 'coder-convex: workspace bench-workspace-%'"))
    most = max(held.values(), default=0)
    pct = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else float("nan")
    print(f"| preflights at once | {N} (max_connections={MAX_CONNECTIONS}) |")
    print(f"| succeeded | {len(ok)} |")
    print(f"| distinct marked databases | {marked} |")
    print(f"| most connections one preflight held | {most} (sampled; {len(held)} preflights seen) |")
    print(f"| most preflight connections at once | {total_peak[0]} |")
    print(f"| time to a ready database p50 / p99 / max | {pct(0.5):.0f} / {pct(0.99):.0f} / {times[-1]*1000 if times else float('nan'):.0f} ms |")
    if len(ok) != N or marked != N or most > 1:
        sys.exit("FAILED: every preflight must succeed, alone in its one connection")
finally:
    subprocess.run(["runuser", "-u", "postgres", "--", f"{pgbin}/pg_ctl", "-D", data, "-m",
                    "immediate", "stop"], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
