#!/usr/bin/env python3
"""The Monday-morning start: N workspaces' preflights at once against one shared server.

Starts a throw-away server on loopback with max_connections=30 -- a PostgreSQL cluster (initdb
as the postgres user into a temp dir) or a MariaDB server (mariadb-install-db) -- configures N
projects in shared mode, then starts N `coder-convex setup` at once. Each is timed until it
says its database is ready (the preflight: connect, create the workspace's database, mark it),
then stopped: there is no backend to wait for. While they run, one admin connection samples
the server's connections per preflight (Postgres: pg_stat_activity, each preflight connecting
with its own application_name; MariaDB: information_schema.PROCESSLIST, each preflight
connecting as its own user), so the most connections any one preflight held at once is
measured. Prints p50/p99/max time to a ready database and fails unless all N succeed, N
distinct marked databases exist and no preflight held more than one connection.

With `provision` (Postgres only) each workspace runs what the templates' provisioner runs,
`coder-convex db provision` (the preflight, the workspace's own login role, the database handed
to it, the capacity read), timed until it exits 0.

    bench/shared_start.py BIN [N] [postgres|mariadb] [setup|provision]
"""
import glob, os, re, shutil, socket, subprocess, sys, tempfile, threading, time

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
ENGINE = sys.argv[3] if len(sys.argv) > 3 else "postgres"
MODE = sys.argv[4] if len(sys.argv) > 4 else "setup"
assert MODE in ("setup", "provision"), MODE
assert MODE == "setup" or ENGINE == "postgres", "provision: Postgres only"
MAX_CONNECTIONS = 30
READY = re.compile(r"(created database|database) convex_\S+ (on|is ready on) ")
work = tempfile.mkdtemp(prefix="shared-start-")
os.chmod(work, 0o755)
data = os.path.join(work, "data")

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]


class Postgres:
    """A cluster with trust auth; the team's admin role may create databases but is not a
    superuser, so the reserved slots stay free for the sampler, as they do for a server's
    admin."""
    name = "PostgreSQL"

    def __init__(self):
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1].rsplit("/", 1)[0]
        shutil.chown(work, "postgres", "postgres")
        self.as_postgres(f"{self.bin}/initdb", "-D", data, "-U", "postgres", "--auth=trust")
        self.as_postgres(f"{self.bin}/pg_ctl", "-D", data, "-l", f"{work}/log", "-w", "-o",
                         f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={work} "
                         f"-c max_connections={MAX_CONNECTIONS}", "start")
        # CREATEROLE for `db provision`: each workspace's login role.
        self.sql("CREATE ROLE convex_admin LOGIN CREATEDB CREATEROLE")

    @staticmethod
    def as_postgres(*args):
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    def sql(self, sql):
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                               "postgres", "-Atqc", sql], check=True, capture_output=True,
                              text=True).stdout.strip()

    def env(self, i):
        return {"CODER_CONVEX_SHARED_POSTGRES_URL":
                f"postgres://convex_admin@127.0.0.1:{port}/postgres?application_name=bench-{i}"}

    def sampler(self):
        return (["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
                 "-Atq", "-F", " "],
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE application_name LIKE 'bench-%' GROUP BY 1;\n\\echo END\n")

    def marked(self):
        return int(self.sql("SELECT count(DISTINCT datname) FROM pg_database WHERE "
                            "shobj_description(oid, 'pg_database') LIKE "
                            "'coder-convex: workspace bench-workspace-%'"))

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", data,
                        "-m", "immediate", "stop"], capture_output=True)


class MariaDb:
    """A server whose workspace users hold no SUPER or CONNECTION ADMIN, so the one
    connection MariaDB keeps beyond max_connections for an admin stays free for the sampler
    (root on the socket). Each preflight logs in as its own user: PROCESSLIST has no
    application name. The collation override is the README's for shared MySQL on MariaDB."""
    name = "MariaDB"

    def __init__(self):
        self.sock = os.path.join(work, "sock")
        tmp = os.path.join(work, "tmp")
        os.mkdir(tmp)
        as_root = ["--user=root"] if os.getuid() == 0 else []
        small = ["--innodb-use-native-aio=0", "--innodb-buffer-pool-size=64M"]
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        *as_root, *small], check=True, capture_output=True)
        self.server = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", *as_root, f"--datadir={data}",
             f"--port={port}", "--bind-address=127.0.0.1", f"--socket={self.sock}",
             f"--pid-file={work}/pid", f"--log-error={work}/log", f"--tmpdir={tmp}",
             "--skip-name-resolve", f"--max-connections={MAX_CONNECTIONS}", *small],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            if subprocess.run(self.client("SELECT 1"), capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        users = "".join(
            f"CREATE USER 'bench{i}'@'127.0.0.1' IDENTIFIED BY 'benchpw';"
            f"GRANT ALL ON `convex\\_%`.* TO 'bench{i}'@'127.0.0.1';" for i in range(N))
        self.sql(users)

    def client(self, sql=None):
        cmd = ["mariadb", "--no-defaults", f"--socket={self.sock}", "-uroot", "-N", "-B"]
        return cmd + ["-e", sql] if sql else cmd + ["-n"]

    def sql(self, sql):
        return subprocess.run(self.client(sql), check=True, capture_output=True,
                              text=True).stdout.strip()

    def env(self, i):
        return {"CODER_CONVEX_SHARED_DATABASE_URL": f"mysql://bench{i}:benchpw@127.0.0.1:{port}",
                "CODER_CONVEX_MYSQL_COLLATION": "utf8mb4_bin"}

    def sampler(self):
        # PROCESSLIST's USER, as application_name is on Postgres; tab-separated.
        return (self.client(),
                "SELECT REPLACE(USER, 'bench', 'bench-'), COUNT(*) FROM "
                "information_schema.PROCESSLIST WHERE USER LIKE 'bench%' GROUP BY USER;\n"
                "SELECT 'END';\n")

    def marked(self):
        schemas = self.sql("SELECT TABLE_SCHEMA FROM information_schema.TABLES "
                           "WHERE TABLE_NAME = 'coder_convex_workspace'").split()
        if not schemas:
            return 0
        union = " UNION ALL ".join(f"SELECT marker FROM `{s}`.coder_convex_workspace"
                                   for s in schemas)
        return int(self.sql(f"SELECT COUNT(DISTINCT marker) FROM ({union}) m "
                            "WHERE marker LIKE 'coder-convex: workspace bench-workspace-%'"))

    def stop(self):
        self.server.kill()
        self.server.wait()


server = Postgres() if ENGINE == "postgres" else MariaDb()

try:
    projects = []
    for i in range(N):
        d = os.path.join(work, f"p{i}")
        os.mkdir(d)
        env = {"PATH": os.environ["PATH"], "HOME": d,
               "CODER_CONVEX_WORKSPACE_ID": f"bench-workspace-{i}",
               "CODER_WORKSPACE_OWNER_NAME": "bench", "CODER_WORKSPACE_NAME": f"ws{i}",
               "CODER_CONVEX_BACKEND_URL": "http://127.0.0.1:9", **server.env(i)}
        subprocess.run([BIN, "--project-dir", d, "-q", "configure"], env=env, check=True)
        projects.append((d, env))

    held = {}
    total_peak = [0]
    stop = threading.Event()

    def sample():
        cmd, q = server.sampler()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             bufsize=1)
        while not stop.is_set():
            p.stdin.write(q)
            total = 0
            for line in p.stdout:
                line = line.strip()
                if line == "END":
                    break
                name, count = line.rsplit(None, 1)
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
        if MODE == "provision":
            p = subprocess.run([BIN, "--project-dir", d, "--color", "never", "db", "provision",
                                "--out", os.path.join(d, "db.env"), "--wait", "120"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            results[i] = (p.returncode == 0, time.monotonic() - t0)
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
            return
        # setup runs the preflight before it waits for the backend; stopped once it is done.
        p = subprocess.Popen([BIN, "--project-dir", d, "--color", "never", "setup",
                              "--no-deploy", "--wait", "120"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ok = False
        for line in p.stderr:
            if READY.search(line):
                ok = True
                break
        elapsed = time.monotonic() - t0
        p.kill()
        p.wait()
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
    marked = server.marked()
    most = max(held.values(), default=0)
    pct = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else float("nan")
    print(f"| server | {server.name}, max_connections={MAX_CONNECTIONS} |")
    print(f"| {MODE}s at once | {N} |")
    print(f"| succeeded | {len(ok)} |")
    print(f"| distinct marked databases | {marked} |")
    print(f"| most connections one preflight held | {most} (sampled; {len(held)} preflights seen) |")
    print(f"| most preflight connections at once | {total_peak[0]} |")
    print(f"| time to a ready database p50 / p99 / max | {pct(0.5):.0f} / {pct(0.99):.0f} / {times[-1]*1000 if times else float('nan'):.0f} ms |")
    if len(ok) != N or marked != N or most > 1:
        sys.exit("FAILED: every preflight must succeed, alone in its one connection")
finally:
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
